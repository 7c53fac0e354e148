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
