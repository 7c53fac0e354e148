// chatwire in the browser: the WebAssembly build with the browser's WebSocket
// and SQLite persisted in IndexedDB.
import createChatwireModule from '../dist/wasm/chatwire_wasm.mjs';
import { createApi } from './internal/api.mjs';
import { createClientClass } from './internal/client.mjs';
import { createImageReader } from './internal/images.mjs';
import { createWasmPlatform } from './internal/platform-wasm.mjs';
import { createWasmLoader } from './internal/wasm-loader.mjs';

export { ChatError, ERROR_CODES } from './internal/errors.mjs';
export { createChatStore } from './internal/store.mjs';

// Written as new URL(..., import.meta.url) so bundlers (Vite, webpack 5,
// esbuild with the file loader) emit the .wasm as an asset and rewrite the URL.
const wasmUrl = new URL('../dist/wasm/chatwire_wasm.wasm', import.meta.url);

const loader = createWasmLoader(() => createChatwireModule({ locateFile: () => wasmUrl.href }));

export const { codec, sniffImage, base64 } = createApi(loader.native);

/** Loads the WebAssembly module; every other call needs it done first (ChatClient.create does it). */
export const init = loader.init;

export const ChatClient = createClientClass(createWasmPlatform({
  ready: async () => { await loader.init(); return loader.native(); },
  native: loader.native,
  readImage: createImageReader((t) => base64.decode(t)),
  defaultWebSocket: () => globalThis.WebSocket,
}));

export const backend = 'wasm';

/** The Node-only server cannot run in a browser. */
export class ChatServer {
  constructor() {
    throw new TypeError('chatwire: ChatServer runs in Node only (import chatwire from a Node backend)');
  }
}
