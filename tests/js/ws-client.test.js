// The Node addon's own WebSocket client (src/node/ws_client.cc) against
// servers it did not write: wss:// with a self-signed certificate (refused
// unless trusted, and then only for the name it was issued to), answers to
// the upgrade that are not a WebSocket (401; a 101 with a wrong
// Sec-WebSocket-Accept), and server frames it must refuse (masked: 1002;
// binary: 1003; not UTF-8: 1007; over 16 MiB: 1009). The client runs in a child process (socket-child.js), whose
// stderr carries the addon's one-line refusals.
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

const CHILD = path.join(__dirname, 'socket-child.js');
// The addon beside the bundle require('chatwire') resolves to (dist/ -> build/).
const ADDON = path.join(path.dirname(require.resolve('chatwire')), '../build/Release/chatwire.node');

/** Runs socket-child.js to `url`; resolves with its events and stderr once it exits. */
function runClient(url, { hello = 'hi', env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const env0 = { ...process.env };
    delete env0.SSL_CERT_FILE;
    delete env0.SSL_CERT_DIR;
    const p = spawn(process.execPath, [CHILD, url, hello], { env: { ...env0, CHATWIRE_TEST_ADDON: ADDON, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const started = Date.now();
    const timer = setTimeout(() => p.kill('SIGKILL'), 15000);
    p.on('error', reject);
    p.on('close', (exitCode) => {
      clearTimeout(timer);
      const events = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      resolve({ exitCode, events, stderr, ms: Date.now() - started });
    });
  });
}

// Upgraded sockets are the test's own: closeServer destroys them too.
const listen = (server) => {
  server.upgraded = new Set();
  server.on('upgrade', (req, socket) => { server.upgraded.add(socket); socket.on('close', () => server.upgraded.delete(socket)); });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));
};
const closeServer = (server) => new Promise((r) => {
  for (const s of server.upgraded) s.destroy();
  server.closeAllConnections?.();
  server.close(() => r());
});

describe('wss:// (a self-signed certificate for "localhost")', () => {
  let dir;
  let server;
  let port;
  let received;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')],
    { stdio: 'ignore' });
    server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) });
    received = [];
    const wss = new WebSocket.Server({ server });
    wss.on('connection', (ws) => ws.on('message', (m) => { received.push(String(m)); ws.send(`echo ${m}`); }));
    port = await listen(server);
  });
  afterAll(async () => {
    await closeServer(server);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('by default the system CAs do not trust it: no open, close 1006, and stderr says why', async () => {
    const url = `wss://localhost:${port}/ws/chat`;
    const r = await runClient(url);
    expect(r.events).toEqual([{ event: 'close', code: 1006, httpStatus: 0 }]);
    expect(r.stderr).toContain(`chatwire: WebSocket ${url}: TLS handshake with localhost:${port} failed: certificate verify failed (self-signed certificate)`);
    expect(received).toEqual([]);
  });

  test('trusted through SSL_CERT_FILE, it opens and carries text both ways', async () => {
    const r = await runClient(`wss://localhost:${port}/ws/chat`, { env: { SSL_CERT_FILE: path.join(dir, 'cert.pem') }, hello: 'héllo' });
    expect(r.events).toEqual([
      { event: 'open' }, { event: 'message', text: 'echo héllo' }, { event: 'close', code: 1000, httpStatus: 0 }]);
    expect(r.stderr).toBe('');
    expect(received).toContain('héllo');
  });

  test('trusted, but reached by another name (127.0.0.1): refused as a host mismatch', async () => {
    const url = `wss://127.0.0.1:${port}/ws/chat`;
    const r = await runClient(url, { env: { SSL_CERT_FILE: path.join(dir, 'cert.pem') } });
    expect(r.events).toEqual([{ event: 'close', code: 1006, httpStatus: 0 }]);
    expect(r.stderr).toMatch(/certificate verify failed \(IP address mismatch\)/);
  });
});

describe('answers to the upgrade that open no WebSocket', () => {
  let server;
  let port;
  let answer;  // (req, socket) => void

  beforeAll(async () => {
    server = http.createServer((req, res) => res.writeHead(404).end());
    server.on('upgrade', (req, socket) => answer(req, socket));
    port = await listen(server);
  });
  afterAll(() => closeServer(server));

  test('401: on_close reports the status (no open), nothing printed', async () => {
    answer = (req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    const r = await runClient(`ws://127.0.0.1:${port}/ws/chat`);
    expect(r.events).toEqual([{ event: 'close', code: 1006, httpStatus: 401 }]);
    expect(r.stderr).toBe('');
  });

  test('101 with a wrong Sec-WebSocket-Accept: refused, never open, stderr names it', async () => {
    let key = null;
    answer = (req, socket) => {
      key = req.headers['sec-websocket-key'];
      const wrong = crypto.createHash('sha1').update(`${key}not-the-guid`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wrong}\r\n\r\n`);
    };
    const url = `ws://127.0.0.1:${port}/ws/chat`;
    const r = await runClient(url);
    expect(Buffer.from(key, 'base64')).toHaveLength(16);
    expect(r.events).toEqual([{ event: 'close', code: 1006, httpStatus: 0 }]);
    expect(r.stderr).toContain(`chatwire: WebSocket ${url}: refused the answer to the upgrade: wrong Sec-WebSocket-Accept`);
  });
});

describe('server frames the client refuses', () => {
  const accept = (key) => crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

  test('a masked frame from the server: the client closes with 1002', async () => {
    const server = http.createServer();
    const fromClient = [];
    server.on('upgrade', (req, socket) => {
      socket.on('data', (d) => fromClient.push(d));
      socket.on('error', () => {});
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(req.headers['sec-websocket-key'])}\r\n\r\n`);
      // "hi", masked with 0x01020304
      socket.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
    });
    const port = await listen(server);
    try {
      const r = await runClient(`ws://127.0.0.1:${port}/ws/chat`, { hello: '' });
      expect(r.events).toEqual([{ event: 'open' }, { event: 'close', code: 1002, httpStatus: 0 }]);
      expect(r.exitCode).toBe(0);  // the process ended on its own: nothing of the socket kept it alive
      // What reached the server: one masked close frame with 1002.
      const b = Buffer.concat(fromClient);
      expect(b[0]).toBe(0x88);
      expect(b[1] & 0x80).toBe(0x80);
      const n = b[1] & 0x7f;
      const payload = Buffer.from(b.subarray(6, 6 + n).map((x, i) => x ^ b[2 + (i & 3)]));
      expect(payload.readUInt16BE(0)).toBe(1002);
    } finally {
      await closeServer(server);
    }
  });

  // What the `ws` server sends, and the close code it then receives from the client.
  test.each([
    ['a binary message', 1003, (ws) => ws.send(Buffer.from([1, 2, 3]), { binary: true })],
    ['text that is not UTF-8', 1007, (ws) => ws.send(Buffer.from([0x68, 0xc3, 0x28]), { binary: false })],
    ['a message over 16 MiB (max_frame_bytes)', 1009, (ws) => ws.send('x'.repeat((16 << 20) + 1))],
  ])('%s: the client closes with %i, which the `ws` server receives', async (_what, code, send) => {
    const wss = new WebSocket.Server({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const closed = new Promise((resolve) => wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('close', (c) => resolve(c));
      send(ws);
    }));
    try {
      const r = await runClient(`ws://127.0.0.1:${wss.address().port}/ws/chat`, { hello: '' });
      expect(r.events).toEqual([{ event: 'open' }, { event: 'close', code, httpStatus: 0 }]);
      expect(await closed).toBe(code);
    } finally {
      await new Promise((r) => wss.close(r));
    }
  });
});
