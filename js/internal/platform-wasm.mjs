// The WebAssembly build's platform for ChatClient: a WebSocket class (the
// browser's, or an injected one in Node), SQLite in memory or persisted to
// IndexedDB through Emscripten's IDBFS, and page lifecycle hooks.
import { ChatError } from './errors.mjs';

const IDB_ROOT = '/chatwire-idb';

export function createWasmPlatform({ ready, native, readImage, defaultWebSocket }) {
  let mounted = null;
  let flushTimer = null;

  function syncfs(populate) {
    const FS = native().FS;
    return new Promise((resolve, reject) => FS.syncfs(populate, (err) => (err ? reject(err) : resolve())));
  }

  async function mountIndexedDb() {
    mounted ??= (async () => {
      const FS = native().FS;
      FS.mkdir(IDB_ROOT);
      FS.mount(FS.filesystems.IDBFS, {}, IDB_ROOT);
      await syncfs(true);
    })();
    return mounted;
  }

  // Persist: debounced after committed batches, at once on pagehide/close.
  function flush(immediate) {
    if (!mounted) return;
    clearTimeout(flushTimer);
    if (immediate) {
      syncfs(false).catch(() => {});
    } else {
      flushTimer = setTimeout(() => syncfs(false).catch(() => {}), 50);
    }
  }

  return {
    ready,
    defaultStorage: typeof indexedDB === 'undefined' ? 'memory' : 'indexeddb',

    async openStorage(name) {
      if (name === 'memory' || name === ':memory:') return { path: ':memory:' };
      if (name === 'indexeddb' || name.startsWith('indexeddb:')) {
        if (typeof indexedDB === 'undefined') {
          throw new ChatError('invalid_field', "options.storage 'indexeddb' needs a browser with IndexedDB");
        }
        await mountIndexedDb();
        const db = name === 'indexeddb' ? 'chatwire' : name.slice('indexeddb:'.length).replace(/[^\w.-]/g, '_');
        return {
          path: `${IDB_ROOT}/${db}.sqlite`,
          journalMode: 'MEMORY',  // IDBFS persists whole files: no journal file to sync
          flush,
          close: () => syncfs(false).catch(() => {}),
        };
      }
      throw new ChatError('invalid_field',
        `options.storage '${name}' is not available in the WebAssembly build: use 'memory', 'indexeddb' or 'indexeddb:<name>'`);
    },

    openSocket(url, on, options) {
      const WS = options.WebSocket ?? defaultWebSocket();
      if (typeof WS !== 'function') {
        throw new ChatError('internal', 'no WebSocket implementation: pass options.WebSocket (e.g. require("ws")) in Node');
      }
      const ws = new WS(url);
      let opened = false;
      ws.onopen = () => { opened = true; on.open(); };
      ws.onmessage = (e) => { if (typeof e.data === 'string') on.message(e.data); };
      // Browsers hide a refused handshake's HTTP status (code 1006 before open);
      // the `ws` package reports it as an 'unexpected-response' event.
      let httpStatus = 0;
      if (typeof ws.on === 'function') ws.on('unexpected-response', (_req, res) => { httpStatus = res.statusCode; ws.terminate?.(); });
      ws.onerror = () => {};
      ws.onclose = (e) => on.close(opened ? e.code : (e.code === 1000 ? 1006 : e.code), httpStatus);
      return {
        send: (text) => { if (ws.readyState === 1) ws.send(text); },
        close: (code, reason) => { try { ws.close(code === 1000 || (code >= 3000 && code < 5000) ? code : 1000, reason); } catch { ws.close(); } },
        destroy: () => { ws.onclose = null; ws.onmessage = null; try { ws.close(); } catch { /* already closed */ } },
      };
    },

    readImage,

    watchLifecycle(h) {
      if (typeof document === 'undefined' || typeof window === 'undefined') return () => {};
      const vis = () => h.visibility(document.visibilityState === 'visible');
      const online = () => h.online();
      const hide = () => h.pagehide();
      document.addEventListener('visibilitychange', vis);
      window.addEventListener('online', online);
      window.addEventListener('pagehide', hide);
      return () => {
        document.removeEventListener('visibilitychange', vis);
        window.removeEventListener('online', online);
        window.removeEventListener('pagehide', hide);
      };
    },
  };
}
