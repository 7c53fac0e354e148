// The exports of a WebAssembly-backed entry point (browser.mjs, wasm-node.mjs),
// given how that entry instantiates the module.
import { createApi } from './api.mjs';
import { createClientClass } from './client.mjs';
import { createImageReader } from './images.mjs';
import { createWasmPlatform } from './platform-wasm.mjs';
import { createWasmLoader } from './wasm-loader.mjs';

export function createWasmExports(instantiate, serverMessage) {
  const loader = createWasmLoader(instantiate);
  const { codec, sniffImage, sniffAudio, base64 } = createApi(loader.native);
  const ChatClient = createClientClass(createWasmPlatform({
    ready: async () => { await loader.init(); return loader.native(); },
    native: loader.native,
    readImage: createImageReader((t) => base64.decode(t)),
    defaultWebSocket: () => globalThis.WebSocket,
  }));
  class ChatServer {
    constructor() {
      throw new TypeError(serverMessage);
    }
  }
  return { codec, sniffImage, sniffAudio, base64, ChatClient, ChatServer, init: loader.init };
}
