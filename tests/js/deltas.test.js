// Issue 14.13: a client applies a reply's deltas in linear time. 16,000 deltas
// of 50 B (a 781 KiB reply) took 31 s of client CPU when every delta event
// carried the whole text so far (serialised by the core, copied across the
// N-API / embind boundary and parsed again, per delta). The client runs in a
// child process (tests/js/stream-client.js) so its CPU is its own; the server is
// the real ChatServer here. The bound is loose (the linear client needs ~0.2 s
// on the 2-core CI machine, the quadratic one ~20 s); speed goals are in bench/.
const path = require('node:path');
const { spawn } = require('node:child_process');
const { ChatServer } = require('chatwire');
const { piece } = require('./stream-pieces');

const N = 16000;
const L = 50;
const CPU_BOUND_MS = 5000;
const ROOT = path.join(__dirname, '../..');

const clientBuilds = [
  ['node addon', path.join(ROOT, 'dist/node.cjs')],
  ['wasm', path.join(ROOT, 'dist/wasm.cjs')],
];

// Runs the child; onLine(obj) for each JSON line it prints.
function runClient(modulePath, url, onLine) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'stream-client.js'), modulePath, url, String(N), String(L)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 50000);
    child.stdout.on('data', (d) => {
      out += d;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line.trim()) onLine(JSON.parse(line));
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`stream client exited with ${code ?? signal}: ${err}`));
    });
  });
}

describe.each(clientBuilds)('delta assembly is linear (%s client)', (name, modulePath) => {
  let server;
  let release;

  beforeAll(async () => {
    server = new ChatServer({ port: 0 });
    server.onMessage(async (msg, reply) => {
      let text = '';
      for (let i = 0; i < N; i++) {
        const p = piece(i, L);
        text += p;
        reply.delta(p);
        if (i % 500 === 499) await new Promise((r) => setImmediate(r));  // let the socket drain
      }
      await new Promise((r) => { release = r; });  // the child has measured the deltas alone
      await reply.respond({ content: text });
    });
    await server.listen();
  });

  afterAll(async () => {
    await server?.close();
  });

  test(`${N} deltas of ${L} B: exact text, client CPU under ${CPU_BOUND_MS} ms`, async () => {
    const lines = [];
    await runClient(modulePath, `ws://127.0.0.1:${server.port}/ws/chat`, (line) => {
      lines.push(line);
      if (line.streamed) release();
    });
    const [streamed, final] = lines;
    console.log(`${name}: ${N} deltas applied in ${streamed.cpuMs.toFixed(0)} ms of client CPU (${streamed.wallMs} ms wall)`);
    expect(streamed).toMatchObject({ streamed: true, status: 'streaming', length: N * L, exact: true });
    expect(streamed.cpuMs).toBeLessThan(CPU_BOUND_MS);
    expect(final).toEqual({ final: true, status: 'complete', exact: true });
  }, 60000);
});
