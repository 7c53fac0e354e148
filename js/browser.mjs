// chatwire in the browser: the WebAssembly build with the browser's WebSocket
// and SQLite persisted in IndexedDB.
import createChatwireModule from '../dist/wasm/chatwire_wasm.mjs';
import { createWasmExports } from './internal/wasm-exports.mjs';

export { ChatError, ERROR_CODES } from './internal/errors.mjs';
export { createChatStore } from './internal/store.mjs';

// Written as new URL(..., import.meta.url) so bundlers (Vite, webpack 5,
// esbuild with the file loader) emit the .wasm as an asset and rewrite the URL.
const wasmUrl = new URL('../dist/wasm/chatwire_wasm.wasm', import.meta.url);

// A page may start compiling the .wasm before any of its JS has run, from an
// inline <script> in the HTML (README.md, "Faster cold start"):
//   globalThis.chatwireWasmModule = WebAssembly.compileStreaming(fetch(url))
// When that promise is there and resolves to a module, it is instantiated
// instead of fetching and compiling again; when it is missing or fails, the
// module is fetched and compiled here as usual.
async function loadModule() {
  const early = await Promise.resolve(globalThis.chatwireWasmModule).catch(() => undefined);
  if (!(early instanceof WebAssembly.Module)) return createChatwireModule({ locateFile: () => wasmUrl.href });
  let fail;
  const failed = new Promise((_, reject) => { fail = reject; });
  const instantiateWasm = (imports, receive) => {
    WebAssembly.instantiate(early, imports).then((instance) => receive(instance, early), fail);
    return {};  // exports arrive through receive()
  };
  return Promise.race([createChatwireModule({ locateFile: () => wasmUrl.href, instantiateWasm }), failed]);
}

const wasm = createWasmExports(loadModule,
  'chatwire: ChatServer runs in Node only (import chatwire from a Node backend)');

export const { codec, sniffImage, sniffAudio, base64, ChatClient, ChatServer } = wasm;

/** Loads the WebAssembly module; every other call needs it done first (ChatClient.create does it). */
export const init = wasm.init;

export const backend = 'wasm';
