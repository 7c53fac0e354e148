// The WebAssembly build's platform for ChatClient: a WebSocket class (the
// browser's, or an injected one in Node), SQLite in memory or persisted to
// IndexedDB through Emscripten's IDBFS, and page lifecycle hooks.
import { ChatError } from './errors.mjs';
import { joinTabs, newMessageId } from './tabs.mjs';

// Each storage is its own IDBFS mount (and so its own IndexedDB database,
// named after the mount point): a sync writes only that storage's file. With
// one mount for every storage, a tab's stale copy of another storage's file
// overwrote that storage on every sync (IDBFS copies whatever differs).
const IDB_ROOT = '/chatwire';
// Where version 0.1 kept every storage, in one mount; read once to migrate.
const LEGACY_ROOT = '/chatwire-idb';

export function createWasmPlatform({ ready, native, readImage, defaultWebSocket }) {
  const mounts = new Map();  // db name -> Promise of its mount point

  // FS.syncfs syncs every mount; this syncs one (IDBFS's own entry point).
  function syncMount(populate, dir) {
    const FS = native().FS;
    const { mount } = FS.lookupPath(dir).node;
    return new Promise((resolve, reject) => mount.type.syncfs(mount, populate, (err) => (err ? reject(err) : resolve())));
  }

  function mkdirs(dir) {
    const FS = native().FS;
    let at = '';
    for (const part of dir.split('/').filter(Boolean)) {
      at += `/${part}`;
      try { FS.mkdir(at); } catch { /* exists */ }
    }
  }

  // Mounts (first time) or re-reads (later) one storage's directory from
  // IndexedDB. Only a tab about to open the database calls this: a leader
  // right before it opens the file, never a follower.
  async function mountStorage(db) {
    const FS = native().FS;
    const dir = `${IDB_ROOT}/${db}`;
    if (!mounts.has(db)) {
      mounts.set(db, (async () => {
        mkdirs(dir);
        FS.mount(FS.filesystems.IDBFS, {}, dir);
        await syncMount(true, dir);
        await migrateLegacy(db, dir);
      })());
      await mounts.get(db);
    } else {
      await mounts.get(db);
      await syncMount(true, dir);  // another tab may have led (and written) since
    }
    return dir;
  }

  // One at a time: two storages opened at once would mount the old root twice.
  let migrating = Promise.resolve();
  function migrateLegacy(db, dir) {
    const run = migrating.then(() => copyLegacy(db, dir));
    migrating = run.catch(() => {});
    return run;
  }

  async function copyLegacy(db, dir) {
    const FS = native().FS;
    const file = `${dir}/chat.sqlite`;
    if (FS.analyzePath(file).exists) return;
    mkdirs(LEGACY_ROOT);
    FS.mount(FS.filesystems.IDBFS, {}, LEGACY_ROOT);
    try {
      await syncMount(true, LEGACY_ROOT);
      const old = `${LEGACY_ROOT}/${db}.sqlite`;
      if (FS.analyzePath(old).exists) {
        FS.writeFile(file, FS.readFile(old));
        await syncMount(false, dir);
      }
    } finally {
      FS.unmount(LEGACY_ROOT);  // never written back: the old database stays as it was
    }
  }

  // Persisting one storage: syncs run one at a time; flush() resolves once a
  // sync that started after the call has finished (the tab layer tells other
  // tabs "stored for good" only then). Debounced unless `immediate`.
  function persister(dir) {
    let timer = null;
    let running = null;
    let again = false;
    let waiting = [];
    const run = () => {
      clearTimeout(timer);
      timer = null;
      if (running) {
        again = true;
        return;
      }
      const batch = waiting;
      waiting = [];
      running = syncMount(false, dir).then(() => true, () => false).then((ok) => {
        running = null;
        for (const w of batch) w(ok);
        if (again || waiting.length) {
          again = false;
          if (waiting.length) run();
        }
      });
    };
    return {
      flush(immediate) {
        return new Promise((resolve) => {
          waiting.push(resolve);
          if (immediate) run();
          else if (!timer) timer = setTimeout(run, 50);
        });
      },
    };
  }

  const indexedDbName = (name) => (name === 'indexeddb' ? 'chatwire' : name.slice('indexeddb:'.length).replace(/[^\w.-]/g, '_'));

  return {
    ready,
    defaultStorage: typeof indexedDB === 'undefined' ? 'memory' : 'indexeddb',

    /**
     * Which storage `name` means, without opening it: `key` names it for the
     * tab layer (null for memory, which no other tab can see).
     */
    storageKey(name) {
      if (name === 'memory' || name === ':memory:' || typeof indexedDB === 'undefined') return null;
      if (name === 'indexeddb' || name.startsWith('indexeddb:')) return `indexeddb:${indexedDbName(name)}`;
      return null;
    },

    joinTabs,
    newMessageId,

    async openStorage(name) {
      if (name === 'memory' || name === ':memory:') return { path: ':memory:' };
      if (name === 'indexeddb' || name.startsWith('indexeddb:')) {
        if (typeof indexedDB === 'undefined') {
          throw new ChatError('invalid_field', "options.storage 'indexeddb' needs a browser with IndexedDB");
        }
        const dir = await mountStorage(indexedDbName(name));
        const saver = persister(dir);
        return {
          path: `${dir}/chat.sqlite`,
          journalMode: 'MEMORY',  // IDBFS persists whole files: no journal file to sync
          flush: (immediate) => saver.flush(immediate),
          close: () => saver.flush(true),
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
