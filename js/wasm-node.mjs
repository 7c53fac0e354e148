// chatwire's WebAssembly build, loaded in Node (tests, tools, SSR). The browser
// entry is browser.mjs; both use the same .wasm. ChatClient needs a WebSocket
// class: options.WebSocket (e.g. require('ws')) or a global WebSocket.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createApi } from './internal/api.mjs';
import { createClientClass } from './internal/client.mjs';
import { createImageReader } from './internal/images.mjs';
import { createWasmPlatform } from './internal/platform-wasm.mjs';
import { createWasmLoader } from './internal/wasm-loader.mjs';

export { ChatError, ERROR_CODES } from './internal/errors.mjs';
export { createChatStore } from './internal/store.mjs';

const require = createRequire(import.meta.url);

const loader = createWasmLoader(() => {
  const glue = require.resolve('../dist/wasm/chatwire_wasm.cjs');
  const createModule = require(glue);
  // Emscripten 3.1.6's loader tries fetch() on a file path under Node 20: hand it the bytes.
  return createModule({ wasmBinary: readFileSync(glue.replace(/\.cjs$/, '.wasm')) });
});

export const { codec, sniffImage, base64 } = createApi(loader.native);

/** Loads the WebAssembly module; every other call needs it done first (ChatClient.create does it). */
export const init = loader.init;

export const ChatClient = createClientClass(createWasmPlatform({
  ready: async () => { await loader.init(); return loader.native(); },
  native: loader.native,
  readImage: createImageReader((t) => base64.decode(t)),
  defaultWebSocket: () => globalThis.WebSocket,
}));

/** The server is in the Node addon build: import it from 'chatwire'. */
export class ChatServer {
  constructor() {
    throw new TypeError("chatwire/wasm has no ChatServer: import { ChatServer } from 'chatwire' (the Node addon)");
  }
}

export const backend = 'wasm';
