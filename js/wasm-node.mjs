// chatwire's WebAssembly build, loaded in Node (tests, tools, SSR). The browser
// entry is browser.mjs; both use the same .wasm. ChatClient needs a WebSocket
// class: options.WebSocket (e.g. require('ws')) or a global WebSocket.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createWasmExports } from './internal/wasm-exports.mjs';

export { ChatError, ERROR_CODES } from './internal/errors.mjs';
export { createChatStore } from './internal/store.mjs';

const require = createRequire(import.meta.url);

const wasm = createWasmExports(() => {
  const glue = require.resolve('../dist/wasm/chatwire_wasm.cjs');
  const createModule = require(glue);
  // Emscripten 3.1.6's loader tries fetch() on a file path under Node 20: hand it the bytes.
  return createModule({ wasmBinary: readFileSync(glue.replace(/\.cjs$/, '.wasm')) });
}, "chatwire/wasm has no ChatServer: import { ChatServer } from 'chatwire' (the Node addon)");

export const { codec, sniffImage, sniffAudio, base64, ChatClient, ChatServer } = wasm;

/** Loads the WebAssembly module; every other call needs it done first (ChatClient.create does it). */
export const init = wasm.init;

export const backend = 'wasm';
