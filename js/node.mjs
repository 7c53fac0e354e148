// chatwire for Node: the native addon (its own WebSocket transport on Node's loop, SQLite file store).
import { createRequire } from 'node:module';
import { createApi } from './internal/api.mjs';
import { createClientClass } from './internal/client.mjs';
import { createImageReader } from './internal/images.mjs';
import { createNodePlatform } from './internal/platform-node.mjs';
import { createServerClass } from './server.mjs';
import { useErrorCodes } from './internal/errors.mjs';
import { loadNativeAddon } from './internal/native-addon.mjs';

export { ChatError, ERROR_CODES } from './internal/errors.mjs';
export { createChatStore } from './internal/store.mjs';

const require = createRequire(import.meta.url);

// build/Release (built here) or prebuilds/<platform>-<arch>-<libc> (shipped): js/internal/native-addon.mjs.
const addon = loadNativeAddon(require, import.meta.url);
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
