// Regression tests for issue 14 (robustness): each runs the product server in
// a child process, because the failure it guards against wedges or kills the
// whole process; every load is bounded and the child is always stopped.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-robust-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SERVER = `
const { ChatServer } = require(${JSON.stringify(require.resolve('chatwire'))});
(async () => {
  const server = new ChatServer({
    host: '127.0.0.1', port: 0, database: ':memory:',
    auth: process.env.NOAUTH ? undefined : { secret: 'robustness-test-secret-0123456789',
            authenticate: async () => { await new Promise((r) => setTimeout(r, 100)); return null; } },
  });
  server.onMessage(async (msg, reply) => {
    if (msg.content === 'flood') {
      // 96 MiB of deltas, 64 KiB each, yielding to the loop now and then.
      const chunk = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 1536; i++) {
        reply.delta(chunk);
        if (i % 32 === 31) await new Promise((r) => setImmediate(r));
      }
    }
    await reply.respond('ok');
  });
  await server.listen();
  console.log('PORT ' + server.port);
  process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
})();
`;

async function startServer(env = {}) {
  const script = path.join(tmp, `server-${process.pid}-${Date.now()}.cjs`);
  fs.writeFileSync(script, SERVER);
  const child = spawn(process.execPath, [...(env.NODE_ARGS ? env.NODE_ARGS.split(' ') : []), script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const t0 = Date.now();
  while (!/PORT (\d+)/.test(output)) {
    if (Date.now() - t0 > 10000 || child.exitCode !== null) throw new Error(`server did not start: ${output}`);
    await sleep(20);
  }
  return { child, port: Number(/PORT (\d+)/.exec(output)[1]), output: () => output };
}

async function stopServer(s) {
  if (s.child.exitCode !== null) return;
  s.child.kill('SIGKILL');
  await new Promise((r) => s.child.on('exit', r));
}

// Writes `bytes` in one TCP write and collects the answer until the server
// closes or `ms` pass.
function rawExchange(port, bytes, ms = 2000) {
  return new Promise((resolve) => {
    let got = '';
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    const done = () => { clearTimeout(t); sock.destroy(); resolve(got); };
    const t = setTimeout(done, ms);
    sock.on('data', (d) => { got += d; });
    sock.on('close', done);
    sock.on('error', done);
  });
}

// /healthz must answer within `ms`: the loop thread is not wedged.
async function healthy(port, ms = 2000) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), ms);
  try {
    const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: ctl.signal });
    return r.status;
  } catch {
    return 0;
  } finally {
    clearTimeout(t);
  }
}

describe('HTTP pipelining (issue 14.1)', () => {
  let s;
  beforeAll(async () => { s = await startServer(); });
  afterAll(() => stopServer(s));

  test('a GET pipelined with a POST that has a body: answered, connection closed, server keeps serving', async () => {
    const got = await rawExchange(s.port,
      'GET /x HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nA');
    expect(got).toMatch(/^HTTP\/1\.1 404/);
    expect(got.toLowerCase()).toContain('connection: close');
    // Only the first request is answered; the pipelined one is never parsed.
    expect(got.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(await healthy(s.port)).toBe(200);
  }, 15000);

  test('pipelined POST /api/ticket that authenticate refuses: one 401, then the server still answers', async () => {
    const req = 'POST /api/ticket HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer nope\r\nContent-Length: 2\r\n\r\n{}';
    const got = await rawExchange(s.port, req + req + req);
    expect(got).toMatch(/^HTTP\/1\.1 401/);
    expect(await healthy(s.port)).toBe(200);
    // The child's CPU over the next 500 ms stays low (no spinning loop).
    const stat = () => fs.readFileSync(`/proc/${s.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = () => { const f = stat(); return Number(f[11]) + Number(f[12]); };
    const before = ticks();
    await sleep(500);
    const used = (ticks() - before) / 100;  // seconds of CPU (USER_HZ = 100)
    expect(used).toBeLessThan(0.25);
  }, 15000);
});

describe('strict HTTP framing (issue 14.10)', () => {
  let s;
  beforeAll(async () => { s = await startServer(); });
  afterAll(() => stopServer(s));

  const cases = {
    'a Content-Length that is not a number': 'Content-Length: 5x\r\n',
    'two different Content-Length headers': 'Content-Length: 1\r\nContent-Length: 2\r\n',
    'Content-Length together with Transfer-Encoding': 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n',
  };
  for (const [name, headers] of Object.entries(cases)) {
    test(`${name} gets 400 and a closed connection`, async () => {
      const got = await rawExchange(s.port, `POST /api/ticket HTTP/1.1\r\nHost: a\r\n${headers}\r\nAAAAA`);
      expect(got).toMatch(/^HTTP\/1\.1 400/);
      expect(await healthy(s.port)).toBe(200);
    }, 15000);
  }
});

describe('a peer that does not read (issue 14.2)', () => {
  let s;
  // A small V8 heap makes garbage (the encoded deltas) be collected as it
  // goes, so RSS shows what is held, such as a send queue outside V8's heap.
  beforeAll(async () => { s = await startServer({ NOAUTH: '1', NODE_ARGS: '--max-old-space-size=64' }); });
  afterAll(() => stopServer(s));

  const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

  test('96 MiB of deltas to a socket that stopped reading: the socket is dropped, the server keeps serving', async () => {
    const WebSocket = require('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws/chat`);
    const frames = [];
    ws.on('message', (d) => frames.push(JSON.parse(String(d))));
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    const closed = new Promise((r) => ws._socket.once('close', r));
    const clientId = require('node:crypto').randomUUID();
    const ts = () => new Date().toISOString();
    ws.send(JSON.stringify({ type: 'connect', clientId, timestamp: ts() }));
    while (!frames.some((f) => f.type === 'connect_confirm')) await sleep(10);
    const base = rss(s.child.pid);
    ws.send(JSON.stringify({ type: 'message', messageId: require('node:crypto').randomUUID(), clientId, timestamp: ts(), content: 'flood' }));
    await sleep(50);
    ws._socket.pause();  // stop reading: the kernel buffers fill, then the server's queue
    let peak = 0;
    let gone = false;
    closed.then(() => { gone = true; });
    for (let i = 0; i < 100 && !gone; i++) {
      peak = Math.max(peak, rss(s.child.pid));
      await sleep(100);
      if (i === 60) ws._socket.resume();  // read again: a dropped socket ends
    }
    console.log(`rss growth ${((peak - base) / 1048576).toFixed(1)} MiB`);
    expect(gone).toBe(true);
    // RSS is logged, not asserted: it still grows with the volume sent even
    // with the queue capped (issue 14 note: not yet profiled).
    expect(await healthy(s.port)).toBe(200);
  }, 30000);
});
