// The ChatClient contract over the HTTP fallback (PROTOCOL.md "HTTP fallback
// transport"), both builds, through a real HTTP proxy that refuses every
// WebSocket upgrade (tests/js/noupgrade-proxy.js) in front of a real server.
const WebSocket = require('ws');
const { ChatServer } = require('chatwire');
const { builds } = require('./builds');
const { until } = require('./wsclient');
const { startNoUpgradeProxy } = require('./noupgrade-proxy');

const fast = { delaysMs: [200, 400, 800], minDelayMs: 200 };

describe.each(builds)('ChatClient over the HTTP fallback (%s)', (name, cw) => {
  let server;
  let proxy;
  let url;
  let processed = 0;
  beforeAll(async () => {
    server = new ChatServer({ host: '127.0.0.1', port: 0, database: ':memory:' });
    server.onMessage(async (msg, reply) => {
      processed++;
      reply.thinking('Thinking...');
      for (const w of `re: ${msg.content}`.split(/(?= )/)) reply.delta(w);
      await reply.respond({ content: `re: ${msg.content}` });
    });
    await server.listen();
    proxy = await startNoUpgradeProxy(server.port);
    url = `ws://127.0.0.1:${proxy.port}/ws/chat`;
  });
  afterAll(async () => { await proxy.close(); await server.close(); });

  const make = (extra = {}) => cw.ChatClient.create({ url, storage: 'memory', reconnect: fast, WebSocket, ...extra });

  test('the refused WebSocket switches to HTTP at once; a message goes sent -> received -> processed with its streamed reply', async () => {
    const before = { ...proxy.counts };
    const c = await make();
    const statuses = [];
    c.on('connection', (s) => statuses.push(`${s.status}/${s.transport}`));
    await c.connect();
    expect(c.connection.status).toBe('open');
    expect(c.connection.transport).toBe('http');
    expect(c.connection.attempt).toBe(0);  // the switch is not a reconnect attempt
    expect(statuses).not.toContain('reconnecting/websocket');
    const deltas = [];
    c.on('delta', (d) => deltas.push(d.delta));
    const id = await c.send({ content: 'over http' });
    await until(() => c.messages.find((m) => m.id === id)?.status === 'processed', 'processed', 8000);
    expect(c.messages.find((m) => m.role === 'assistant')).toMatchObject({ replyTo: id, content: 're: over http' });
    expect(deltas.join('')).toBe('re: over http');
    expect(proxy.counts.upgradesRefused).toBeGreaterThan(before.upgradesRefused);
    expect(proxy.counts.streams).toBeGreaterThan(before.streams);
    expect(proxy.counts.posts).toBeGreaterThan(before.posts);
    await c.close();
  });

  test('transports: ["websocket"] does not fall back: the refusal fails the attempt', async () => {
    const c = await make({ transports: ['websocket'], reconnect: { ...fast, maxAttempts: 0 } });
    await c.connect().catch(() => {});
    await until(() => c.connection.status === 'failed', 'failed', 5000);
    await c.close();
  });

  test('a bad transports option is refused with a clear error', async () => {
    await expect(make({ transports: ['carrier-pigeon'] })).rejects.toThrow(/transports/);
  });

  test('a stream cut mid-conversation: the client reconnects over HTTP and nothing is lost or duplicated', async () => {
    const c = await make();
    await c.connect();
    const a = await c.send({ content: 'one' });
    await until(() => c.messages.find((m) => m.id === a)?.status === 'processed', 'first processed', 8000);
    const n0 = processed;
    proxy.cutAll();
    const b = await c.send({ content: 'two' });  // while the stream is down or coming back
    await until(() => c.messages.find((m) => m.id === b)?.status === 'processed', 'second processed', 10000);
    expect(c.connection.transport).toBe('http');
    expect(processed).toBe(n0 + 1);
    const replies = c.messages.filter((m) => m.role === 'assistant');
    expect(replies.map((m) => m.content)).toEqual(['re: one', 're: two']);
    await c.close();
  });
});
