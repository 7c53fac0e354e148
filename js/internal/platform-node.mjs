// The Node addon's platform for ChatClient: its WebSocket client (src/node/ws_client.cc) on Node's
// loop and SQLite files (or ':memory:').
export function createNodePlatform(addon, readImage) {
  return {
    ready: async () => addon,
    defaultStorage: 'memory',
    async openStorage(name) {
      return { path: name === 'memory' ? ':memory:' : name };
    },
    openSocket(url, on) {
      const s = new addon.SocketNative(url, on.open, on.message, on.close);
      return { send: (t) => s.send(t), close: (code, reason) => s.close(code, reason ?? ''), destroy: () => s.destroy() };
    },
    readImage,
    watchLifecycle: () => () => {},
  };
}
