// One guard for the asynchronous WASM initialisation, shared by the browser
// and the Node-WASM entry points.
import { useErrorCodes } from './errors.mjs';

export function createWasmLoader(instantiate) {
  let module = null;
  let pending = null;
  return {
    native() {
      if (!module) throw new TypeError('chatwire: the WebAssembly module is not loaded yet; call `await init()` first');
      return module;
    },
    init() {
      pending ??= instantiate().then((m) => {
        useErrorCodes(m);
        module = m;
        return m;
      }, (err) => {
        pending = null;
        throw err;
      });
      return pending.then(() => undefined);
    },
  };
}
