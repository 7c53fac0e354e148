// Issue 14.14: a client that refuses the server's connect_confirm (here
// `heartbeatMs: 0`, which the codec refuses) fails that connection attempt at
// once: it closes the socket with 1002 (protocol error), reports a clear error,
// and retries on the normal backoff. Before, it sat in `connecting` until the
// try deadline (3 x heartbeatMs = 30 s by default). The server is a tiny
// hostile one written with the `ws` package.
const WebSocket = require('ws');
const { builds } = require('./builds');
const { until } = require('./wsclient');


// Answers every `connect` with `confirm(frame)`; records each socket's times and close code.
async function hostileServer(confirm) {
  const sockets = [];
  const wss = new WebSocket.Server({ port: 0, host: '127.0.0.1', path: '/ws/chat' });
  wss.on('connection', (ws) => {
    const s = { openedAt: Date.now(), closeCode: null, closedAt: null };
    sockets.push(s);
    ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type === 'connect') {
        ws.send(JSON.stringify(confirm({
          type: 'connect_confirm', conversationId: 'conv-1', connectionId: `conn-${sockets.length}`,
          resumed: false, recovered: true, heartbeatMs: 10000, timestamp: new Date().toISOString(),
        })));
      }
    });
    ws.on('close', (code) => { s.closeCode = code; s.closedAt = Date.now(); });
  });
  await new Promise((r) => wss.once('listening', r));
  return {
    sockets,
    url: `ws://127.0.0.1:${wss.address().port}/ws/chat`,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
    },
  };
}

// The core closes with 1002; the WASM build's socket is a browser WebSocket,
// whose close() accepts only 1000 and 3000-4999, so it sends 1000 there.
const closeCode = { 'node addon': 1002, wasm: 1000 };

describe.each(builds)('a refused connect_confirm (%s)', (name, cw) => {
  beforeAll(() => cw.init());

  test('heartbeatMs 0: the attempt fails at once, the socket is closed, the error names it, and retries follow the backoff', async () => {
    const server = await hostileServer((f) => ({ ...f, heartbeatMs: 0 }));
    // The default heartbeatMs (10 s) gives a try deadline of 30 s: what the client used to wait.
    const c = await cw.ChatClient.create({
      url: server.url, storage: 'memory', WebSocket,
      reconnect: { delaysMs: [300, 600], minDelayMs: 300, maxAttempts: 2 },
    });
    const statuses = [];
    const errors = [];
    const system = [];
    c.on('connection', (s) => statuses.push({ ...s, at: Date.now() }));
    c.on('error', (e) => errors.push(e));
    c.on('system', (e) => system.push(e));
    try {
      const started = Date.now();
      await c.connect();  // resolves when the first try has finished
      expect(Date.now() - started).toBeLessThan(1000);
      expect(c.connection.status).toBe('reconnecting');
      expect(c.connection.attempt).toBe(1);

      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors[0]).toBeInstanceOf(cw.ChatError);
      expect(errors[0].code).toBe('invalid_field');
      expect(errors[0].message).toBe(
        "the server's connect_confirm is invalid (field 'heartbeatMs' must be an integer >= 1); the connection attempt failed");
      expect(system.map((e) => e.kind)).toEqual(expect.arrayContaining(['error', 'reconnecting']));
      expect(system.find((e) => e.kind === 'error').message).toMatch(/^Connection failed: the server's connect_confirm is invalid/);

      // The client closed the socket itself, with a protocol error (1002) where the socket allows it.
      await until(() => server.sockets[0]?.closeCode !== null, 'the first socket to close', 1000);
      expect(server.sockets[0].closeCode).toBe(closeCode[name]);

      // Attempt 1 after delaysMs[0] (300 ms), attempt 2 after delaysMs[1] (600 ms), then failed.
      await until(() => c.connection.status === 'failed', 'failed after 2 attempts', 5000);
      expect(server.sockets).toHaveLength(3);
      const gap1 = server.sockets[1].openedAt - server.sockets[0].closedAt;
      const gap2 = server.sockets[2].openedAt - server.sockets[1].closedAt;
      expect(gap1).toBeGreaterThanOrEqual(250);
      expect(gap1).toBeLessThan(900);
      expect(gap2).toBeGreaterThanOrEqual(550);
      expect(gap2).toBeLessThan(1200);
      await until(() => server.sockets.every((s) => s.closeCode !== null), 'every socket to close', 1000);
      expect(server.sockets.map((s) => s.closeCode)).toEqual(Array(3).fill(closeCode[name]));
      expect(statuses.some((s) => s.status === 'open')).toBe(false);
    } finally {
      await c.close();
      await server.close();
    }
  });

  test('a valid connect_confirm from the same server still opens (the refusal is about the frame)', async () => {
    const server = await hostileServer((f) => f);
    const c = await cw.ChatClient.create({ url: server.url, storage: 'memory', WebSocket });
    try {
      await c.connect();
      expect(c.connection.status).toBe('open');
    } finally {
      await c.close();
      await server.close();
    }
  });
});
