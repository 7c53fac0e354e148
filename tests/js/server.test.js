// ChatServer on loopback, driven by the `ws` package: the real chatwire
// server, the real hub, a real SQLite file.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ChatServer } = require('chatwire');
const { WsProbe, ts } = require('./wsclient');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-server-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function echoServer(options = {}) {
  const server = new ChatServer({ port: 0, ...options });
  server.onMessage(async (msg, reply) => {
    reply.thinking('Analyzing your request...');
    reply.delta('echo: ');
    reply.delta(msg.content);
    await reply.respond({ content: `echo: ${msg.content}` });
  });
  return server;
}

const url = (server, query = '') => `ws://127.0.0.1:${server.port}/ws/chat${query}`;

describe('reply.respond() resolves once the reply is stored', () => {
  // Replies are committed in groups (one SQLite transaction per loop turn), so
  // "stored" is checked from outside: a second connection to the same file
  // must see the response the moment respond() resolved. Work an application
  // does after `await reply.respond()` (billing, a webhook) is then never
  // repeated for a reply that a crash lost.
  test('another reader of the database sees the response when respond() resolves', async () => {
    const Database = require('better-sqlite3');
    const file = path.join(tmp, 'stored.db');
    const server = new ChatServer({ port: 0, database: file });
    const seen = [];
    server.onMessage(async (msg, reply) => {
      reply.delta('one moment');
      await reply.respond({ content: `stored: ${msg.content}` });
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        const frames = db.prepare("SELECT frame FROM events WHERE kind = 'response'").all().map((r) => JSON.parse(r.frame));
        seen.push(frames.some((f) => f.replyTo === msg.messageId && f.content === `stored: ${msg.content}`));
      } finally {
        db.close();
      }
    });
    await server.listen();
    try {
      const c = new WsProbe(url(server));
      await c.connect();
      for (const text of ['a', 'b', 'c']) {
        const id = c.message(text);
        await c.waitFor((f) => f.type === 'response' && f.replyTo === id);
      }
      await c.close();
      expect(seen).toEqual([true, true, true]);
    } finally {
      await server.close();
    }
  });
});

describe('ChatServer basics', () => {
  let server;
  beforeAll(async () => {
    server = echoServer({ database: path.join(tmp, 'basics.db') });
    await server.listen();
  });
  afterAll(() => server.close());

  test('listen() binds a free port', () => {
    expect(server.port).toBeGreaterThan(0);
  });

  test('GET /healthz answers 200', async () => {
    const r = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(r.status).toBe(200);
  });

  test('connect -> connect_confirm with a new conversation', async () => {
    const c = new WsProbe(url(server));
    const cc = await c.connect();
    expect(cc).toMatchObject({ type: 'connect_confirm', resumed: false, recovered: true, heartbeatMs: 10000 });
    expect(typeof cc.conversationId).toBe('string');
    expect(typeof cc.connectionId).toBe('string');
    expect(cc.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await c.close();
  });

  test('ping -> pong', async () => {
    const c = new WsProbe(url(server));
    await c.connect();
    c.send({ type: 'ping', clientId: c.clientId, timestamp: ts() });
    expect(await c.waitFor('pong')).toMatchObject({ type: 'pong' });
    await c.close();
  });

  test('message -> confirm (seq) -> thinking -> deltas -> response, seq increasing', async () => {
    const c = new WsProbe(url(server));
    await c.connect();
    const id = c.message('hello');
    const confirm = await c.waitFor((f) => f.type === 'confirm' && f.messageId === id);
    const response = await c.waitFor((f) => f.type === 'response' && f.replyTo === id);
    expect(response.content).toBe('echo: hello');
    expect(response.seq).toBeGreaterThan(confirm.seq);
    const deltas = c.frames.filter((f) => f.type === 'delta');
    expect(deltas.map((d) => d.index)).toEqual([0, 1]);
    expect(deltas.map((d) => d.delta).join('')).toBe('echo: hello');
    const seqs = c.frames.filter((f) => f.seq !== undefined).map((f) => f.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    await c.close();
  });

  test('bad frames get their error and the connection stays usable', async () => {
    const c = new WsProbe(url(server));
    await c.connect();
    c.send('{"type":');
    expect((await c.waitFor('error')).code).toBe('bad_json');
    c.send({ type: 'hello' });
    expect((await c.waitFor((f) => f.type === 'error' && f.code === 'unknown_type')).code).toBe('unknown_type');
    const id = 'not-valid-msg';
    c.send({ type: 'message', messageId: id, clientId: c.clientId, timestamp: ts() });
    const e = await c.waitFor((f) => f.type === 'error' && f.code === 'invalid_field');
    expect(e.messageId).toBe(id);
    const ok = c.message('still here');
    expect((await c.waitFor((f) => f.type === 'response' && f.replyTo === ok)).content).toBe('echo: still here');
    await c.close();
  });

  test('a repeated messageId is processed once: fresh confirm and replay, handler not run again', async () => {
    let runs = 0;
    const s = new ChatServer({ port: 0 });
    s.onMessage(async (msg, reply) => { runs++; await reply.respond({ content: 'once' }); });
    await s.listen();
    const c = new WsProbe(url(s));
    await c.connect();
    const frame = { type: 'message', messageId: 'dup-1', clientId: c.clientId, timestamp: ts(), content: 'x' };
    c.send(frame);
    await c.waitFor((f) => f.type === 'response');
    c.send(frame);
    await new Promise((r) => setTimeout(r, 200));
    expect(runs).toBe(1);
    expect(c.frames.filter((f) => f.type === 'confirm' && f.messageId === 'dup-1' && !f.imageId)).toHaveLength(2);
    expect(c.frames.filter((f) => f.type === 'response')).toHaveLength(2);
    await c.close();
    await s.close();
  });

  test('a frame over the hard limit closes with 1009', async () => {
    const s = new ChatServer({ port: 0, limits: { maxFrameBytes: 1024 } });
    await s.listen();
    const c = new WsProbe(url(s));
    await c.connect();
    c.send({ type: 'ping', clientId: c.clientId, timestamp: ts(), pad: 'x'.repeat(2000) });
    expect((await c.closed).code).toBe(1009);
    await s.close();
  });

  test('a handler that throws sends internal for that message and keeps the server', async () => {
    const s = new ChatServer({ port: 0 });
    const errors = [];
    s.on('error', (e) => errors.push(e));
    s.onMessage(async (msg) => { if (msg.content === 'boom') throw new Error('secret detail'); });
    await s.listen();
    const c = new WsProbe(url(s));
    await c.connect();
    const id = c.message('boom');
    const e = await c.waitFor((f) => f.type === 'error' && f.messageId === id);
    expect(e.code).toBe('internal');
    expect(e.error).not.toContain('secret detail');
    expect(errors).toHaveLength(1);
    c.send({ type: 'ping', clientId: c.clientId, timestamp: ts() });
    await c.waitFor('pong');
    await c.close();
    await s.close();
  });
});

describe('recovery', () => {
  test('resume with lastSeq replays every later stored event, in order, without deltas', async () => {
    const db = path.join(tmp, 'resume.db');
    const server = echoServer({ database: db });
    await server.listen();
    const a = new WsProbe(url(server));
    const cc = await a.connect();
    const id = a.message('one');
    const confirm = await a.waitFor((f) => f.type === 'confirm' && f.messageId === id);
    const response = await a.waitFor((f) => f.type === 'response' && f.replyTo === id);
    await a.close();

    const b = new WsProbe(url(server));
    b.clientId = a.clientId;
    const cc2 = await b.connect({ conversationId: cc.conversationId, lastSeq: confirm.seq });
    expect(cc2).toMatchObject({ resumed: true, recovered: true, conversationId: cc.conversationId });
    const replayed = await b.waitFor((f) => f.type === 'response');
    expect(replayed).toEqual(response);
    expect(b.frames.some((f) => f.type === 'delta')).toBe(false);
    expect(b.frames.some((f) => f.type === 'confirm' && f.seq <= confirm.seq)).toBe(false);
    await b.close();
    await server.close();

    // same file after a restart: the conversation and its seq numbering survive
    const again = echoServer({ database: db });
    await again.listen();
    const c = new WsProbe(url(again));
    c.clientId = a.clientId;
    const cc3 = await c.connect({ conversationId: cc.conversationId, lastSeq: response.seq });
    expect(cc3.resumed).toBe(true);
    const id2 = c.message('two');
    const confirm2 = await c.waitFor((f) => f.type === 'confirm' && f.messageId === id2);
    expect(confirm2.seq).toBeGreaterThan(response.seq);
    await c.close();
    await again.close();
  });

  test("someone else's conversationId gets a new conversation", async () => {
    const server = echoServer();
    await server.listen();
    const a = new WsProbe(url(server));
    const cc = await a.connect();
    const b = new WsProbe(url(server));
    const ccb = await b.connect({ conversationId: cc.conversationId, lastSeq: 0 });
    expect(ccb.resumed).toBe(false);
    expect(ccb.conversationId).not.toBe(cc.conversationId);
    await a.close();
    await b.close();
    await server.close();
  });
});

describe('tickets', () => {
  const secret = 'a-long-test-secret-0123456789';
  let server;
  beforeAll(async () => {
    server = echoServer({
      auth: { secret, ticketTtlMs: 1000, authenticate: async (req) =>
        (req.headers.authorization === 'Bearer good-token' ? { userId: 'user-1' } : null) },
    });
    await server.listen();
  });
  afterAll(() => server.close());

  const getTicket = async (token = 'good-token') => {
    const r = await fetch(`http://127.0.0.1:${server.port}/api/ticket`, {
      method: 'POST', headers: { authorization: `Bearer ${token}` } });
    return { status: r.status, body: await r.json() };
  };

  test('POST /api/ticket: 200 with ticket and expiresAt for a good token, 401 otherwise', async () => {
    const ok = await getTicket();
    expect(ok.status).toBe(200);
    expect(typeof ok.body.ticket).toBe('string');
    expect(Date.parse(ok.body.expiresAt)).toBeGreaterThan(Date.now());
    const bad = await getTicket('wrong');
    expect(bad.status).toBe(401);
    expect(typeof bad.body.error).toBe('string');
  });

  test('a valid ticket opens once; reused, forged, missing and expired tickets get HTTP 401', async () => {
    const { body } = await getTicket();
    const c = new WsProbe(url(server, `?ticket=${encodeURIComponent(body.ticket)}`));
    await c.connect();
    await c.close();
    const statusOf = async (query) => {
      const p = new WsProbe(url(server, query));
      try { await p.opened; return 101; } catch (e) { return e.status; }
    };
    expect(await statusOf(`?ticket=${encodeURIComponent(body.ticket)}`)).toBe(401);  // reused
    expect(await statusOf(`?ticket=${encodeURIComponent(body.ticket.slice(0, -2) + 'xx')}`)).toBe(401);  // forged
    expect(await statusOf('')).toBe(401);  // missing
    const late = await getTicket();
    await new Promise((r) => setTimeout(r, 1100));
    expect(await statusOf(`?ticket=${encodeURIComponent(late.body.ticket)}`)).toBe(401);  // expired
  });
});

describe('load', () => {
  test('500 concurrent clients x 5 messages: every message confirmed and answered exactly once', async () => {
    let handled = 0;
    const server = new ChatServer({ port: 0, database: path.join(tmp, 'load.db') });
    server.onMessage(async (msg, reply) => { handled++; await reply.respond({ content: `re: ${msg.content}` }); });
    await server.listen();
    const clients = Array.from({ length: 500 }, () => new WsProbe(url(server)));
    await Promise.all(clients.map((c) => c.connect()));
    const sent = clients.map((c) => Array.from({ length: 5 }, (_, i) => c.message(`m${i}`)));
    await Promise.all(clients.map((c, k) => Promise.all(sent[k].map((id) =>
      c.waitFor((f) => f.type === 'response' && f.replyTo === id, 20000)))));
    for (const [k, c] of clients.entries()) {
      for (const id of sent[k]) {
        expect(c.frames.filter((f) => f.type === 'confirm' && f.messageId === id && !f.imageId)).toHaveLength(1);
        expect(c.frames.filter((f) => f.type === 'response' && f.replyTo === id)).toHaveLength(1);
      }
    }
    expect(handled).toBe(2500);
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  }, 60000);
});
