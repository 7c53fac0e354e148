// Issue 15: heartbeats follow min(client heartbeatMs, server heartbeatMs), and a
// server given only heartbeatTimeoutMs advertises a heartbeat its clients can keep.
// The client tests run for both builds (the WASM client with the `ws` package
// as its WebSocket); the server option checks once.
const WebSocket = require('ws');
const { ChatServer } = require('chatwire');
const { builds } = require('./builds');
const { until, WsProbe } = require('./wsclient');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe.each(builds)('heartbeat (issue 15, %s client)', (name, cw) => {
  beforeAll(() => cw.init());

  test('a client with heartbeatMs 150 pings every 150 ms against a server advertising 10000, and notices silence', async () => {
    const pings = [];
    let live = true;  // answers pings while true; silent after
    const wss = new WebSocket.Server({ port: 0, host: '127.0.0.1', path: '/ws/chat' });
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const f = JSON.parse(String(data));
        if (f.type === 'connect') {
          ws.send(JSON.stringify({
            type: 'connect_confirm', conversationId: 'conv-1', connectionId: 'conn-1',
            resumed: false, recovered: true, heartbeatMs: 10000, timestamp: new Date().toISOString(),
          }));
        } else if (f.type === 'ping') {
          pings.push(Date.now());
          if (live) ws.send(JSON.stringify({ type: 'pong', timestamp: new Date().toISOString() }));
        }
      });
    });
    await new Promise((r) => wss.once('listening', r));
    const url = `ws://127.0.0.1:${wss.address().port}/ws/chat`;
    const c = await cw.ChatClient.create({
      url, storage: 'memory', WebSocket, heartbeatMs: 150, reconnect: { delaysMs: [5000], minDelayMs: 5000 },
    });
    try {
      c.connect();
      await until(() => c.connection.status === 'open', 'open', 5000);
      const from = pings.length;
      await sleep(1000);
      const n = pings.length - from;
      expect(n).toBeGreaterThanOrEqual(5);
      expect(n).toBeLessThanOrEqual(8);

      live = false;  // from now on the server sends nothing
      const silentAt = Date.now();
      await until(() => c.connection.status !== 'open', 'loss of the silent socket', 2000);
      expect(Date.now() - silentAt).toBeLessThan(650);  // ~3 x 150 ms after the last pong
      expect(c.connection.status).toBe('reconnecting');
    } finally {
      await c.close();
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
    }
  });

  test('a ChatServer with only heartbeatTimeoutMs 300 advertises heartbeatMs 100 and a client following it stays connected', async () => {
    const server = new ChatServer({ port: 0, heartbeatTimeoutMs: 300 });
    await server.listen();
    const url = `ws://127.0.0.1:${server.port}/ws/chat`;
    try {
      const probe = new WsProbe(url);
      const cc = await probe.connect();
      expect(cc.heartbeatMs).toBe(100);
      await probe.close();

      const c = await cw.ChatClient.create({ url, storage: 'memory', WebSocket });  // default heartbeatMs 10000: follows the server
      const statuses = [];
      c.on('connection', (s) => statuses.push(s.status));
      c.connect();
      await until(() => c.connection.status === 'open', 'open', 5000);
      statuses.length = 0;
      await sleep(1500);
      expect(c.connection.status).toBe('open');
      expect(statuses.filter((s) => s !== 'open')).toEqual([]);
      await c.close();
    } finally {
      await server.close();
    }
  });

});

describe('heartbeat server options (issue 15)', () => {
  test('heartbeatTimeoutMs shorter than heartbeatMs is refused by the constructor', () => {
    expect(() => new ChatServer({ heartbeatMs: 1000, heartbeatTimeoutMs: 500 }))
      .toThrow(/heartbeatTimeoutMs.*heartbeatMs/);
    expect(() => new ChatServer({ heartbeatMs: 1000, heartbeatTimeoutMs: 500 })).toThrow(RangeError);
    expect(() => new ChatServer({ heartbeatMs: 1000, heartbeatTimeoutMs: 1000 })).not.toThrow();
  });
});
