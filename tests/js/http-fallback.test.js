// The HTTP fallback transport, server side (PROTOCOL.md "HTTP fallback
// transport", docs/protocol.md): a Server-Sent Events stream carries the
// server's frames, POSTs carry the client's; same hub, same rules.
const crypto = require('node:crypto');
const http = require('node:http');
const { ChatServer } = require('chatwire');
const { until } = require('./wsclient');

const ts = () => new Date().toISOString();

// An SSE stream read with node:http (what a proxy sees), events parsed.
function openStream(port, query = '', headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/ws/chat/sse${query}`, headers }, (res) => {
      const s = { res, status: res.statusCode, headers: res.headers, events: [], frames: [], raw: '', ended: false };
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (d) => {
        s.raw += d;
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (!data.length) continue;
          const ev = { event, data: JSON.parse(data.join('\n')) };
          s.events.push(ev);
          if (event === 'message') s.frames.push(ev.data);
          if (event === 'open') s.id = ev.data.stream;
        }
      });
      res.on('end', () => { s.ended = true; });
      res.on('error', () => { s.ended = true; });
      resolve(s);
    });
    req.on('error', reject);
  });
}

async function post(port, id, body, headers = {}) {
  const r = await fetch(`http://127.0.0.1:${port}/ws/chat/sse/${id}`, { method: 'POST', body, headers });
  return { status: r.status, body: await r.text(), headers: r.headers };
}

describe('HTTP fallback transport: server', () => {
  let server;
  beforeAll(async () => {
    server = new ChatServer({ host: '127.0.0.1', port: 0, database: ':memory:', allowedOrigins: ['https://app.example'] });
    server.onMessage(async (msg, reply) => {
      reply.delta('Hel');
      reply.delta('lo');
      await reply.respond({ content: `echo: ${msg.content}` });
    });
    await server.listen();
  });
  afterAll(() => server.close());

  const O = { Origin: 'https://app.example' };

  test('a stream opens with its id; connect, message, deltas and response travel over it', async () => {
    const s = await openStream(server.port, '', O);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.headers['cache-control']).toMatch(/no-cache/);
    expect(s.headers['x-accel-buffering']).toBe('no');
    expect(s.headers['access-control-allow-origin']).toBe('https://app.example');
    await until(() => s.id, 'the open event');
    expect(s.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const clientId = crypto.randomUUID();
    expect((await post(server.port, s.id, JSON.stringify({ type: 'connect', clientId, timestamp: ts() }), O)).status).toBe(204);
    await until(() => s.frames.find((f) => f.type === 'connect_confirm'), 'connect_confirm');
    const messageId = crypto.randomUUID();
    // two frames in one POST, one per line
    const body = JSON.stringify({ type: 'ping', clientId, timestamp: ts() }) + '\n' +
      JSON.stringify({ type: 'message', messageId, clientId, timestamp: ts(), content: 'hi' });
    expect((await post(server.port, s.id, body, O)).status).toBe(204);
    const resp = await until(() => s.frames.find((f) => f.type === 'response'), 'response');
    expect(resp.content).toBe('echo: hi');
    expect(s.frames.filter((f) => f.type === 'delta').map((f) => f.delta).join('')).toBe('Hello');
    expect(s.frames.map((f) => f.type)).toContain('pong');
    expect(s.frames.find((f) => f.type === 'confirm').seq).toBeGreaterThan(0);
    s.res.destroy();
  });

  test('a POST for an unknown stream gets 404 unknown_stream; a closed stream too', async () => {
    const r = await post(server.port, 'AAAAAAAAAAAAAAAAAAAAAA', '{"type":"ping"}');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body).error).toBe('unknown_stream');
    const s = await openStream(server.port, '', O);
    await until(() => s.id, 'the open event');
    s.res.destroy();
    await new Promise((r2) => setTimeout(r2, 100));
    expect((await post(server.port, s.id, '{"type":"ping"}')).status).toBe(404);
  });

  test('the Origin allow-list holds: another origin gets 403 and no stream', async () => {
    const s = await openStream(server.port, '', { Origin: 'https://evil.example' });
    expect(s.status).toBe(403);
    expect(s.headers['access-control-allow-origin']).toBeUndefined();
  });

  test("a POST from another origin gets 403 even with the stream's id, and nothing reaches the stream", async () => {
    const s = await openStream(server.port, '', O);
    await until(() => s.id, 'the open event');
    const connect = JSON.stringify({ type: 'connect', clientId: crypto.randomUUID(), timestamp: ts() });
    const r = await post(server.port, s.id, connect, { Origin: 'https://evil.example' });
    expect(r.status).toBe(403);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    expect((await post(server.port, s.id, connect, O)).status).toBe(204);
    await until(() => s.frames.some((f) => f.type === 'connect_confirm'), 'the allowed connect answered');
    expect(s.frames.filter((f) => f.type === 'connect_confirm')).toHaveLength(1);
    s.res.destroy();
  });

  test('CORS preflight for an allowed origin, 403 for another', async () => {
    const ok = await fetch(`http://127.0.0.1:${server.port}/ws/chat/sse/x`, { method: 'OPTIONS', headers: { ...O, 'Access-Control-Request-Method': 'POST' } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const no = await fetch(`http://127.0.0.1:${server.port}/ws/chat/sse/x`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
    expect(no.status).toBe(403);
  });

  test('invalid UTF-8 in a POST: 400, and the stream closes with 1007', async () => {
    const s = await openStream(server.port, '', O);
    await until(() => s.id, 'the open event');
    const r = await post(server.port, s.id, Buffer.from([0x7b, 0xc3, 0x28, 0x7d]));
    expect(r.status).toBe(400);
    await until(() => s.ended, 'the stream to end');
    const close = s.events.find((e) => e.event === 'close');
    expect(close.data.code).toBe(1007);
  });

  test('a POST over the frame limit: 413, and the stream closes with 1009', async () => {
    const small = new ChatServer({ host: '127.0.0.1', port: 0, database: ':memory:', limits: { maxFrameBytes: 1024 } });
    small.onMessage(async (m, reply) => reply.respond({ content: 'x' }));
    await small.listen();
    try {
      const s = await openStream(small.port);
      await until(() => s.id, 'the open event');
      const r = await post(small.port, s.id, 'x'.repeat(2000));
      expect(r.status).toBe(413);
      await until(() => s.ended, 'the stream to end');
      expect(s.events.find((e) => e.event === 'close').data.code).toBe(1009);
    } finally {
      await small.close();
    }
  });

  test('a stream opened with a forged or missing ticket gets 401; a good ticket opens it', async () => {
    const authed = new ChatServer({ host: '127.0.0.1', port: 0, database: ':memory:', auth: {
      secret: 'http-fallback-test-secret-0123456789', authenticate: async () => ({ userId: 'alice' }) } });
    await authed.listen();
    try {
      const r = await fetch(`http://127.0.0.1:${authed.port}/api/ticket`, { method: 'POST' });
      const { ticket } = await r.json();
      // a changed signature character (not the last one: its low bits are padding)
      const i = ticket.length - 5;
      const flip = ticket.slice(0, i) + (ticket[i] === 'A' ? 'Q' : 'A') + ticket.slice(i + 1);
      for (const bad of ['', '?ticket=garbage', `?ticket=${encodeURIComponent(flip)}`]) {
        const s = await openStream(authed.port, bad);
        expect([bad, s.status]).toEqual([bad, 401]);
        s.res.destroy();
      }
      const ok = await openStream(authed.port, `?ticket=${encodeURIComponent(ticket)}`);
      expect(ok.status).toBe(200);
      ok.res.destroy();
    } finally { await authed.close(); }
  });

  test('server.close() ends streams with a close event 1001', async () => {
    const other = new ChatServer({ host: '127.0.0.1', port: 0, database: ':memory:' });
    other.onMessage(async (m, reply) => reply.respond({ content: 'x' }));
    await other.listen();
    const s = await openStream(other.port);
    await until(() => s.id, 'the open event');
    await other.close();
    await until(() => s.ended, 'the stream to end');
    expect(s.events.find((e) => e.event === 'close').data.code).toBe(1001);
  });
});

// Issue 21's bad input over HTTP, each against the real server: the same
// rules as over a WebSocket, and nothing crosses from one stream to another.
describe('HTTP fallback transport: bad input', () => {
  let server;
  beforeAll(async () => {
    server = new ChatServer({ host: '127.0.0.1', port: 0, database: ':memory:' });  // default limits: 20/s, burst 40
    server.onMessage(async (msg, reply) => {
      reply.delta('sec');
      reply.delta('ret');
      await reply.respond({ content: `for ${msg.clientId}: ${msg.content}` });
    });
    await server.listen();
  });
  afterAll(() => server.close());

  // An open stream after its connect_confirm.
  async function connected(port = server.port, connect = {}) {
    const s = await openStream(port);
    expect(s.status).toBe(200);
    await until(() => s.id, 'the open event');
    s.clientId = crypto.randomUUID();
    expect((await post(port, s.id, JSON.stringify({ type: 'connect', clientId: s.clientId, timestamp: ts(), ...connect }))).status).toBe(204);
    s.confirm = await until(() => s.frames.find((f) => f.type === 'connect_confirm'), 'connect_confirm');
    return s;
  }
  const ping = (s) => JSON.stringify({ type: 'ping', clientId: s.clientId, timestamp: ts() });

  test('a flood of POSTs hits the rate limit of frames: rate_limited with retryAfterMs, then the stream closes with 4029; a quiet stream is not limited', async () => {
    const flood = await connected();
    const quiet = await connected();
    const statuses = [];
    // 150 POSTs of one frame each, 10 at a time: far past 20/s, burst 40.
    for (let i = 0; i < 150 && !flood.ended; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => post(server.port, flood.id, ping(flood))));
      statuses.push(...batch.map((r) => r.status));
    }
    await until(() => flood.ended, 'the flooded stream to end');
    const limited = flood.frames.filter((f) => f.type === 'error');
    expect(limited.length).toBeGreaterThan(0);
    for (const e of limited) {
      expect(e.code).toBe('rate_limited');
      expect(e.retryAfterMs).toBeGreaterThan(0);
    }
    // The burst was answered, no more than burst + what refilled meanwhile.
    const pongs = flood.frames.filter((f) => f.type === 'pong').length;
    expect(pongs).toBeGreaterThanOrEqual(40);
    expect(pongs).toBeLessThan(80);
    expect(flood.events.find((e) => e.event === 'close').data.code).toBe(4029);
    // Once closed, its id is dead: POSTs get 404 unknown_stream (the client reconnects).
    expect(statuses.filter((st) => st !== 204 && st !== 404)).toEqual([]);
    const after = await post(server.port, flood.id, ping(flood));
    expect(after.status).toBe(404);
    expect(JSON.parse(after.body).error).toBe('unknown_stream');
    // The other stream's bucket is its own.
    expect((await post(server.port, quiet.id, ping(quiet))).status).toBe(204);
    await until(() => quiet.frames.some((f) => f.type === 'pong'), 'the quiet pong');
    expect(quiet.frames.filter((f) => f.type === 'error')).toEqual([]);
    expect(quiet.ended).toBe(false);
    quiet.res.destroy();
  });

  test('the same flood in one POST body (frames one per line) is limited frame by frame', async () => {
    const s = await connected();
    const body = Array.from({ length: 120 }, () => ping(s)).join('\n');
    expect((await post(server.port, s.id, body)).status).toBe(204);
    await until(() => s.ended, 'the stream to end');
    expect(s.frames.filter((f) => f.type === 'pong').length).toBeLessThanOrEqual(41);
    expect(s.frames.some((f) => f.type === 'error' && f.code === 'rate_limited')).toBe(true);
    expect(s.events.find((e) => e.event === 'close').data.code).toBe(4029);
  });

  test("a POST for another connection's stream: a near-miss id is 404, each stream's frames and replies stay on it", async () => {
    const a = await connected();
    const b = await connected();
    expect(a.id).not.toBe(b.id);
    // An id one character off A's (ids are 128 random bits: not guessable) reaches nobody.
    const near = a.id.slice(0, -2) + (a.id.at(-2) === 'A' ? 'B' : 'A') + a.id.at(-1);
    const miss = await post(server.port, near, JSON.stringify({ type: 'message', messageId: crypto.randomUUID(), clientId: a.clientId, timestamp: ts(), content: 'lost' }));
    expect(miss.status).toBe(404);
    expect(JSON.parse(miss.body).error).toBe('unknown_stream');
    // A message on A: its confirm, deltas and response on A only.
    const messageId = crypto.randomUUID();
    expect((await post(server.port, a.id, JSON.stringify({ type: 'message', messageId, clientId: a.clientId, timestamp: ts(), content: 'for a' }))).status).toBe(204);
    const resp = await until(() => a.frames.find((f) => f.type === 'response'), 'A\'s response');
    expect(resp.content).toBe(`for ${a.clientId}: for a`);
    // B asks for A's conversation by id: it gets a new one (PROTOCOL.md), and nothing of A's.
    const b2 = await connected(server.port, { conversationId: a.confirm.conversationId, lastSeq: 0 });
    expect(b2.confirm.resumed).toBe(false);
    expect(b2.confirm.conversationId).not.toBe(a.confirm.conversationId);
    await new Promise((r) => setTimeout(r, 200));
    for (const other of [b, b2]) {
      expect(other.raw).not.toContain(messageId);
      expect(other.raw).not.toContain('secret');
      expect(other.raw).not.toContain('for a');
      expect(other.frames.map((f) => f.type)).toEqual(['connect_confirm']);
    }
    expect(a.frames.filter((f) => f.type === 'response')).toHaveLength(1);
    expect(a.raw).not.toContain('lost');
    for (const s of [a, b, b2]) s.res.destroy();
  });

  test('a forged, reused or missing ticket opens no stream (401) and posts nothing', async () => {
    const authed = new ChatServer({ host: '127.0.0.1', port: 0, database: ':memory:', auth: {
      secret: 'http-fallback-badinput-secret-0123456789', authenticate: async () => ({ userId: 'alice' }) } });
    let handled = 0;
    authed.onMessage(async (m, reply) => { handled++; await reply.respond({ content: 'x' }); });
    await authed.listen();
    try {
      const { ticket } = await (await fetch(`http://127.0.0.1:${authed.port}/api/ticket`, { method: 'POST' })).json();
      // a forged ticket: another user's claims under the same signature
      const [payload, sig] = ticket.split('.');
      const forgedPayload = payload ? Buffer.from(Buffer.from(payload, 'base64url').toString().replace('alice', 'mallo')).toString('base64url') : 'x';
      const forged = await openStream(authed.port, `?ticket=${encodeURIComponent(`${forgedPayload}.${sig}`)}`);
      expect(forged.status).toBe(401);
      expect(forged.id).toBeUndefined();
      const good = await openStream(authed.port, `?ticket=${encodeURIComponent(ticket)}`);
      expect(good.status).toBe(200);
      await until(() => good.id, 'the open event');
      // the same ticket again: a ticket opens one connection
      const reused = await openStream(authed.port, `?ticket=${encodeURIComponent(ticket)}`);
      expect(reused.status).toBe(401);
      good.res.destroy();
      expect(handled).toBe(0);
    } finally { await authed.close(); }
  });

  test('an oversized POST body: 413 before it is read; a stream that it names closes with 1009, the others do not', async () => {
    const small = new ChatServer({ host: '127.0.0.1', port: 0, database: ':memory:', limits: { maxFrameBytes: 4096 } });
    small.onMessage(async (m, reply) => reply.respond({ content: 'ok' }));
    await small.listen();
    try {
      const a = await connected(small.port);
      const b = await connected(small.port);
      // many small frames that add up to more than one frame's limit are one body over it
      const body = Array.from({ length: 100 }, () => ping(a)).join('\n');
      expect(Buffer.byteLength(body)).toBeGreaterThan(4096);
      const r = await post(small.port, a.id, body);
      expect(r.status).toBe(413);
      await until(() => a.ended, 'A to end');
      expect(a.events.find((e) => e.event === 'close').data.code).toBe(1009);
      expect(a.frames.filter((f) => f.type === 'pong')).toEqual([]);  // nothing of it was handed over
      // a body over the limit for an unknown id: 413 too, and B is untouched
      expect((await post(small.port, 'AAAAAAAAAAAAAAAAAAAAAA', 'x'.repeat(5000))).status).toBe(413);
      // chunked (length unknown up front) is not read at all
      const chunked = await new Promise((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: small.port, method: 'POST', path: `/ws/chat/sse/${b.id}`, headers: { 'Transfer-Encoding': 'chunked' } }, (res) => { res.resume(); resolve(res.statusCode); });
        req.on('error', () => resolve('error'));
        req.end(ping(b));
      });
      expect(chunked).toBe(411);
      expect((await post(small.port, b.id, ping(b))).status).toBe(204);
      await until(() => b.frames.some((f) => f.type === 'pong'), 'B\'s pong');
      expect(b.ended).toBe(false);
      b.res.destroy();
    } finally {
      await small.close();
    }
  });
});
