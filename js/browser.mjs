// chatwire in the browser: the WebAssembly build with the browser's WebSocket
// and SQLite persisted in IndexedDB.
import createChatwireModule from '../dist/wasm/chatwire_wasm.mjs';
import { createWasmExports } from './internal/wasm-exports.mjs';

export { ChatError, ERROR_CODES } from './internal/errors.mjs';
export { createChatStore } from './internal/store.mjs';

// Written as new URL(..., import.meta.url) so bundlers (Vite, webpack 5,
// esbuild with the file loader) emit the .wasm as an asset and rewrite the URL.
const wasmUrl = new URL('../dist/wasm/chatwire_wasm.wasm', import.meta.url);

const wasm = createWasmExports(() => createChatwireModule({ locateFile: () => wasmUrl.href }),
  'chatwire: ChatServer runs in Node only (import chatwire from a Node backend)');

export const { codec, sniffImage, base64, ChatClient, ChatServer } = wasm;

/** Loads the WebAssembly module; every other call needs it done first (ChatClient.create does it). */
export const init = wasm.init;

export const backend = 'wasm';
