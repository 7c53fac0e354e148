// chatwire's WebAssembly build, loaded in Node (tests, tools, SSR). The browser
// entry is browser.mjs; both use the same .wasm.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createApi } from './internal/api.mjs';
import { createWasmLoader } from './internal/wasm-loader.mjs';

export { ChatError, ERROR_CODES } from './internal/errors.mjs';

const require = createRequire(import.meta.url);

const loader = createWasmLoader(() => {
  const glue = require.resolve('../dist/wasm/chatwire_wasm.cjs');
  const createModule = require(glue);
  // Emscripten 3.1.6's loader tries fetch() on a file path under Node 20: hand it the bytes.
  return createModule({ wasmBinary: readFileSync(glue.replace(/\.cjs$/, '.wasm')) });
});

export const { codec, sniffImage, base64 } = createApi(loader.native);

/** Loads the WebAssembly module; every other call needs it done first. */
export const init = loader.init;

export const backend = 'wasm';
