// chatwire for Node: the native addon (its own WebSocket transport on Node's loop, SQLite file store).
import { createRequire } from 'node:module';
import { createApi } from './internal/api.mjs';
import { createClientClass } from './internal/client.mjs';
import { createImageReader } from './internal/images.mjs';
import { createNodePlatform } from './internal/platform-node.mjs';
import { createServerClass } from './server.mjs';
import { useErrorCodes } from './internal/errors.mjs';

export { ChatError, ERROR_CODES } from './internal/errors.mjs';
export { createChatStore } from './internal/store.mjs';

const require = createRequire(import.meta.url);

function loadAddon() {
  // build/ is where `npm install` (node-gyp) puts it; relative to the package root
  // so the path holds from js/ and from the CommonJS bundle in dist/.
  try {
    return require('../build/Release/chatwire.node');
  } catch (err) {
    throw new Error(
      `chatwire: the native addon is not built (${err.message}). Run \`npm rebuild chatwire\` ` +
      '(npm 11 skips install scripts of dependencies until approved: `npm approve-scripts chatwire`).',
      { cause: err },
    );
  }
}

const addon = loadAddon();
useErrorCodes(addon);

export const { codec, sniffImage, sniffAudio, base64 } = createApi(() => addon);

/** The chat client over the addon's WebSocket client, storing in SQLite (a file path or 'memory'). */
export const ChatClient = createClientClass(createNodePlatform(addon, createImageReader(base64.decode)));

/** The WebSocket chat server (Node only); see ChatServerOptions in index.d.ts. */
export const ChatServer = createServerClass(addon);

/** Resolves when the native part is ready (immediately for the addon; kept for parity with WASM). */
export async function init() {}

/** Which native build backs this entry point. */
export const backend = 'node';
