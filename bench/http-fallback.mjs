#!/usr/bin/env node
// The HTTP fallback transport against the WebSocket (issue 21): the same chat
// turn (message -> confirm -> response) and streamed turn (message -> confirm
// -> 20 deltas -> response) against the same ChatServer child
// (bench/servers/chatwire.mjs, --mode turn, SQLite file under --db-dir), once
// over WebSocket (`ws`) and once over HTTP (a Server-Sent Events stream per
// connection, each client frame its own POST, as docs/protocol.md describes;
// every response of the server is `Connection: close`, so each POST is a new
// TCP connection: that cost is part of the figure).
//
//   node bench/http-fallback.mjs [--conns 20] [--warmup-ms 1000] [--duration-ms 5000]
//                                [--rounds 1] [--db-dir /dev/shm]
//
// Per transport and reply: turns/s, p50/p99 (message written -> response
// parsed), server CPU per turn (/proc/<pid>/stat of the server child over the
// window: utime + stime, 10 ms ticks) and this load generator's CPU. Prints a
// table and the HTTP / WebSocket ratios. The load generator is Node in this
// process (bench/loadgen is WebSocket only), one turn in flight per
// connection; with --rounds N the transports alternate N times and the
// numbers add up over the rounds.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const benchDir = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.lastIndexOf(name);
  return i < 0 ? fallback : typeof fallback === 'number' ? Number(argv[i + 1]) : argv[i + 1];
};
const CONNS = opt('--conns', 20);
const WARMUP_MS = opt('--warmup-ms', 1000);
const DURATION_MS = opt('--duration-ms', 5000);
const ROUNDS = opt('--rounds', 1);
const STREAM_DELTAS = 20;  // bench/servers/common.mjs
const dbDir = opt('--db-dir', existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
const tmp = mkdtempSync(join(dbDir, 'chatwire-bench-http-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const CONTENT = 'x'.repeat(256 - 150);  // a ~256 B message frame, as scenario 1 of bench/run.mjs
const TICK_US = 1e6 / 100;  // USER_HZ

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);  // utime + stime (fields 14, 15)
}

function startServer(reply) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(benchDir, 'servers/chatwire.mjs'), '--port', '0',
      '--db', join(tmp, `${reply}-${Date.now()}.db`), '--mode', 'turn', '--reply', reply], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) resolve({ child, port: JSON.parse(line).port, pid: child.pid });
    });
    child.on('exit', (code) => reject(new Error(`the bench server exited (${code})`)));
  });
}

const stopServer = (s) => new Promise((resolve) => {
  s.child.removeAllListeners('exit');
  s.child.once('exit', resolve);
  s.child.kill('SIGTERM');
});

const ts = () => new Date().toISOString();

// ---------------------------------------------------------------- one connection per transport
// Each resolves to { send(text), close() } once connect_confirm arrived; onFrame(frame) per server frame.
function openWs(port, clientId, onFrame) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/chat`);
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connect', clientId, timestamp: ts() })));
    ws.on('message', (d) => {
      const f = JSON.parse(String(d));
      if (f.type === 'connect_confirm') resolve({ send: (t) => ws.send(t), close: () => ws.terminate() });
      else onFrame(f);
    });
  });
}

function openHttp(port, clientId, onFrame) {
  return new Promise((resolve, reject) => {
    let id = null;
    let opened = false;
    // before connect_confirm: the open fails; after: the turn counts as an error
    const fault = (e) => (opened ? onFrame({ type: 'error', code: 'post_failed', message: e.message }) : reject(e));
    const post = (body) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/ws/chat/sse/${id}`, agent: false,
        headers: { 'content-type': 'text/plain;charset=UTF-8', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        if (res.statusCode !== 204) fault(new Error(`POST answered ${res.statusCode}`));
      });
      req.on('error', fault);
      req.end(body);
    };
    const get = http.get({ host: '127.0.0.1', port, path: '/ws/chat/sse', agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.startsWith('event: open\n')) {
            id = JSON.parse(block.slice(block.indexOf('data: ') + 6)).stream;
            post(JSON.stringify({ type: 'connect', clientId, timestamp: ts() }));
          } else if (block.startsWith('data: ')) {
            const f = JSON.parse(block.slice(6));
            if (f.type === 'connect_confirm') {
              opened = true;
              resolve({ send: post, close: () => get.destroy() });
            }
            else onFrame(f);
          }
        }
      });
    });
    get.on('error', reject);
  });
}

// ---------------------------------------------------------------- one measurement
async function measure(transport, reply, server) {
  const lat = [];
  let turns = 0;
  let errors = 0;
  let measuring = false;
  let stopping = false;
  const conns = await Promise.all(Array.from({ length: CONNS }, async () => {
    const c = { clientId: crypto.randomUUID(), cur: null };
    const onFrame = (f) => {
      const cur = c.cur;
      if (!cur) return;
      if (f.type === 'delta' && f.replyTo === cur.id) cur.deltas++;
      else if (f.type === 'error') errors++;
      else if (f.type === 'response' && f.replyTo === cur.id) {
        if (reply === 'stream' && cur.deltas !== STREAM_DELTAS) errors++;
        if (measuring) {
          lat.push(Number(process.hrtime.bigint() - cur.t0) / 1000);
          turns++;
        }
        c.cur = null;
        if (!stopping) turn(c);
      }
    };
    c.conn = await (transport === 'http' ? openHttp : openWs)(server.port, c.clientId, onFrame);
    return c;
  }));
  function turn(c) {
    const id = crypto.randomUUID();
    c.cur = { id, deltas: 0, t0: process.hrtime.bigint() };
    c.conn.send(JSON.stringify({ type: 'message', messageId: id, clientId: c.clientId, timestamp: ts(), content: CONTENT }));
  }
  for (const c of conns) turn(c);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const cpu0 = cpuTicks(server.pid);
  const gen0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  measuring = false;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const serverUs = (cpuTicks(server.pid) - cpu0) * TICK_US;
  const g = process.cpuUsage(gen0);
  stopping = true;
  await new Promise((r) => setTimeout(r, 200));
  for (const c of conns) c.conn.close();
  return { transport, reply, turns, seconds, lat, serverUs, genUs: g.user + g.system, errors };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function summarize(runs) {
  const lat = runs.flatMap((r) => r.lat).sort((a, b) => a - b);
  const turns = runs.reduce((a, r) => a + r.turns, 0);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const serverUs = runs.reduce((a, r) => a + r.serverUs, 0);
  const genUs = runs.reduce((a, r) => a + r.genUs, 0);
  return {
    turnsPerS: turns / seconds, p50Ms: pct(lat, 50) / 1000, p99Ms: pct(lat, 99) / 1000,
    serverCpuUsPerTurn: serverUs / turns, serverCpuPct: (100 * serverUs) / (seconds * 1e6),
    genCpuPct: (100 * genUs) / (seconds * 1e6), turns, errors: runs.reduce((a, r) => a + r.errors, 0),
  };
}

async function main() {
  const results = {};
  for (const reply of ['plain', 'stream']) {
    const server = await startServer(reply);
    const runs = { websocket: [], http: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const transport of ['websocket', 'http']) runs[transport].push(await measure(transport, reply, server));
    }
    await stopServer(server);
    for (const t of ['websocket', 'http']) {
      const s = summarize(runs[t]);
      results[`${reply}/${t}`] = s;
      console.error(`bench http: ${reply.padEnd(6)} ${t.padEnd(9)} ${s.turnsPerS.toFixed(0)} turns/s, p50 ${s.p50Ms.toFixed(2)} ms, ` +
        `p99 ${s.p99Ms.toFixed(2)} ms, server ${s.serverCpuUsPerTurn.toFixed(0)} µs CPU/turn (${s.serverCpuPct.toFixed(0)}%), ` +
        `gen ${s.genCpuPct.toFixed(0)}%, errors ${s.errors}`);
    }
  }
  const rows = [['reply', 'transport', 'turns/s', 'p50 ms', 'p99 ms', 'server µs CPU/turn', 'server CPU', 'generator CPU']];
  for (const [k, s] of Object.entries(results)) {
    const [reply, t] = k.split('/');
    rows.push([reply, t, s.turnsPerS.toFixed(0), s.p50Ms.toFixed(2), s.p99Ms.toFixed(2), s.serverCpuUsPerTurn.toFixed(0),
      `${s.serverCpuPct.toFixed(0)}%`, `${s.genCpuPct.toFixed(0)}%`]);
  }
  console.log(`${CONNS} connections, one turn in flight each, ${WARMUP_MS} ms warm-up, ${DURATION_MS} ms x ${ROUNDS} window(s)\n`);
  console.log(rows.map((r, i) => `| ${r.join(' | ')} |${i === 0 ? `\n|${r.map(() => '---').join('|')}|` : ''}`).join('\n'));
  for (const reply of ['plain', 'stream']) {
    const w = results[`${reply}/websocket`];
    const h = results[`${reply}/http`];
    console.log(`\n${reply}: HTTP / WebSocket = ${(h.serverCpuUsPerTurn / w.serverCpuUsPerTurn).toFixed(2)}x server CPU per turn, ` +
      `${(h.p50Ms / w.p50Ms).toFixed(2)}x p50 latency, ${(h.turnsPerS / w.turnsPerS).toFixed(2)}x turns/s`);
  }
  const broken = Object.entries(results).filter(([, s]) => s.errors || !s.turns);
  if (broken.length) {
    console.error(`bench http: FAIL ${broken.map(([k, s]) => `${k}: ${s.turns} turns, ${s.errors} errors`).join('; ')}`);
    process.exit(1);
  }
  process.exit(0);
}

main().catch((e) => {
  console.error('bench http: crashed', e);
  process.exit(3);
});
