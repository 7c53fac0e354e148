// One ChatClient contract, run against both builds (the Node addon with its
// own socket, and the WASM build with the `ws` package as its WebSocket) and a
// real ChatServer on loopback, over both transports: the WebSocket straight to
// the server, and the HTTP fallback through a proxy that refuses every
// `Upgrade: websocket` (tests/js/noupgrade-proxy.js; its counters show the
// chat went over HTTP).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { ChatServer } = require('chatwire');
const { builds } = require('./builds');
const { until } = require('./wsclient');
const { startNoUpgradeProxy } = require('./noupgrade-proxy');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-client-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const fast = { delaysMs: [200, 400, 800], minDelayMs: 200 };


function replyServer(options = {}) {
  const server = new ChatServer({ port: 0, ...options });
  server.onMessage(async (msg, reply) => {
    reply.thinking('Analyzing your request...');
    for (const w of `re: ${msg.content}`.split(/(?= )/)) reply.delta(w);
    await reply.respond({ content: `re: ${msg.content}` });
  });
  return server;
}

const matrix = builds.flatMap(([name, cw]) => [[name, 'websocket', cw], [name, 'http', cw]]);

describe.each(matrix)('ChatClient (%s, %s)', (name, transport, cw) => {
  const make = (url, extra = {}) => cw.ChatClient.create({
    url, storage: 'memory', reconnect: fast, WebSocket, ...extra });
  // The URL a client of this transport uses for a server on `port`: the
  // server itself, or the upgrade-refusing proxy in front of it (the proxy
  // outlives server restarts on that port, as a real one does).
  const proxies = [];
  const lastProxy = () => proxies[proxies.length - 1];
  async function endpoint(port) {
    if (transport === 'websocket') return `ws://127.0.0.1:${port}/ws/chat`;
    const proxy = await startNoUpgradeProxy(port);
    proxies.push(proxy);
    return `ws://127.0.0.1:${proxy.port}/ws/chat`;
  }
  let server;
  let url;
  beforeAll(async () => {
    server = replyServer();
    await server.listen();
    url = await endpoint(server.port);
  });
  afterAll(async () => {
    for (const p of proxies) await p.close();
    await server.close();
  });

  test('create() restores nothing, does not connect, and gives a clientId', async () => {
    const c = await make(url);
    expect(c.connection.status).toBe('idle');
    expect(c.messages).toEqual([]);
    expect(c.clientId).toMatch(/^[0-9a-f-]{36}$/);
    await c.close();
  });

  test('connect -> open; send goes sent -> received -> processed with the streamed reply', async () => {
    const c = await make(url);
    const statuses = [];
    c.on('connection', (s) => statuses.push(s.status));
    const posts = lastProxy()?.counts.posts ?? 0;
    await c.connect();
    expect(c.connection.status).toBe('open');
    expect(c.connection.transport).toBe(transport);
    // The switch to HTTP is announced as a second 'connecting' (with
    // transport 'http'), not as a reconnect attempt.
    expect(statuses.filter((st, i) => st !== statuses[i - 1])).toEqual(['connecting', 'open']);
    const seen = [];
    c.on('message', (m) => { if (m.role === 'user') seen.push(m.status); });
    const deltas = [];
    c.on('delta', (d) => deltas.push(d.delta));
    const id = await c.send({ content: 'hello there' });
    await until(() => c.messages.find((m) => m.id === id)?.status === 'processed', 'processed', 8000);
    expect(seen.filter((s, i) => s !== seen[i - 1])).toEqual(['sent', 'received', 'processed']);
    const reply = c.messages.find((m) => m.role === 'assistant');
    expect(reply).toMatchObject({ role: 'assistant', replyTo: id, status: 'complete', content: 're: hello there' });
    expect(reply.thinking).toEqual(['Analyzing your request...']);
    expect(deltas.join('')).toBe('re: hello there');
    expect(c.messages.filter((m) => m.role === 'assistant')).toHaveLength(1);
    if (transport === 'http') {
      expect(lastProxy().counts.upgradesRefused).toBeGreaterThan(0);
      expect(lastProxy().counts.posts).toBeGreaterThan(posts);
    }
    await c.disconnect();
    expect(c.connection.status).toBe('closed');
    await c.close();
  });

  test('offline send is queued, then delivered exactly once when the server comes', async () => {
    const s = replyServer();
    await s.listen();
    const port = s.port;
    await s.close();
    const c = await make(await endpoint(port));
    await c.connect();
    expect(c.connection.status).toBe('reconnecting');
    const id = await c.send({ content: 'queued one' });
    expect(c.messages.find((m) => m.id === id).status).toBe('queued');
    let handled = 0;
    const again = new ChatServer({ port });
    again.onMessage(async (msg, reply) => { handled++; await reply.respond({ content: 'got it' }); });
    await again.listen();
    await until(() => c.messages.find((m) => m.id === id)?.status === 'processed', 'processed after reconnect', 8000);
    expect(c.connection.transport).toBe(transport);
    expect(handled).toBe(1);
    expect(c.messages.filter((m) => m.role === 'user')).toHaveLength(1);
    await c.close();
    await again.close();
  });

  test('attempts run out: failed; reconnect() starts a new cycle', async () => {
    const s = replyServer();
    await s.listen();
    const port = s.port;
    await s.close();
    const c = await make(await endpoint(port), { reconnect: { maxAttempts: 2, delaysMs: [100, 100], minDelayMs: 100 } });
    const attempts = [];
    c.on('connection', (st) => { if (st.status === 'reconnecting') attempts.push(st.attempt); });
    await c.connect();
    await until(() => c.connection.status === 'failed', 'failed', 5000);
    expect([...new Set(attempts)]).toEqual([1, 2]);
    const back = new ChatServer({ port });
    await back.listen();
    await c.reconnect();
    await until(() => c.connection.status === 'open', 'open', 5000);
    expect(c.connection.transport).toBe(transport);
    await c.close();
    await back.close();
  });

  test('a bad image fails send() with ChatError and stores nothing', async () => {
    const c = await make(url);
    await expect(c.send({ content: 'x', images: [new Uint8Array([1, 2, 3, 4])] })).rejects.toMatchObject({
      name: 'ChatError', code: 'image_invalid' });
    expect(c.messages).toEqual([]);
    await c.close();
  });

  test('a closed client throws a clear TypeError', async () => {
    const c = await make(url);
    await c.close();
    expect(() => c.connect()).toThrow(/closed/);
    await expect(c.send({ content: 'x' })).rejects.toThrow(/closed/);
  });

  test('createChatStore: zustand store with messages and connection, unchanged messages keep identity', async () => {
    const c = await make(url);
    const store = cw.createChatStore(c);
    expect(store.getState().connection.status).toBe('idle');
    await c.connect();
    const first = await store.getState().send({ content: 'one' });
    await until(() => store.getState().messages.find((m) => m.id === first)?.status === 'processed');
    const before = store.getState().messages.find((m) => m.id === first);
    const second = await store.getState().send({ content: 'two' });
    await until(() => store.getState().messages.find((m) => m.id === second)?.status === 'processed');
    expect(store.getState().messages.find((m) => m.id === first)).toBe(before);
    expect(store.getState().connection.status).toBe('open');
    await c.close();
  });
});

test('a second ChatClient on the same file sees messages, outbox and clientId (Node)', async () => {
  const { ChatClient } = require('chatwire');
  const file = path.join(tmp, 'client.db');
  const s = replyServer();
  await s.listen();
  const port = s.port;
  await s.close();
  const a = await ChatClient.create({ url: `ws://127.0.0.1:${port}/ws/chat`, storage: file, reconnect: fast });
  const id = await a.send({ content: 'kept across restarts' });
  const clientId = a.clientId;
  await a.close();
  const b = await ChatClient.create({ url: `ws://127.0.0.1:${port}/ws/chat`, storage: file, reconnect: fast });
  expect(b.clientId).toBe(clientId);
  expect(b.messages.map((m) => [m.id, m.status])).toEqual([[id, 'queued']]);
  let handled = 0;
  const back = new ChatServer({ port });
  back.onMessage(async (msg, reply) => { handled++; await reply.respond({ content: 'ok' }); });
  await back.listen();
  await b.connect();
  await until(() => b.messages.find((m) => m.id === id)?.status === 'processed');
  expect(handled).toBe(1);
  await b.close();
  await back.close();
});
