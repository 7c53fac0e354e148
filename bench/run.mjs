#!/usr/bin/env node
// chatwire benchmarks: one command, every scenario, one table with ratios.
//
//   node bench/run.mjs            full run (npm run bench), ~10-12 minutes
//   node bench/run.mjs --smoke    tiny counts, < 1 minute (npm run bench:smoke, run by npm test);
//                                 exits non-zero only when a scenario breaks (a server does not
//                                 start, a turn is lost or answered with an error, a streamed
//                                 turn's deltas are missing or out of order, a connection fails,
//                                 an event is lost), never because of a number.
//   --only turn,stream,idle,storm,micro   run some scenarios (turn: the plain chat turn; stream:
//                                 a reply streamed as 20 deltas, then the response)
//   --servers chatwire,ws,uws,ws-heavy,socketio-heavy,uws-heavy
//                                 ws/uws: what a user would write (two rows per turn); *-heavy:
//                                 the baselines that write chatwire's schema (second table; in the
//                                 stream scenario only when named in --servers)
//   --conns 100,1000              chat-turn connection counts; --duration-ms N; --warmup-ms N
//   --idle-conns N --storm-conns N --storm-jitters 0,0.5   sizes of scenarios 2 and 3 (idle:
//                                 100,000 wanted, at most `ulimit -n` - 2,000 by default)
//   --db-dir DIR                  where the servers' SQLite files go (default /dev/shm, tmpfs)
//   --json FILE                   also write the raw results (bench/results/latest.json by default
//                                 for full runs)
//
// Every server runs in its own child process (bench/servers/*.mjs) on 127.0.0.1
// with a fresh SQLite file; the load generator is the native bench/loadgen
// (C, epoll), in its own process, which reports its own CPU and the server's.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = join(root, 'bench');

// ------------------------------------------------------------------ options

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const opt = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const smoke = flag('--smoke');
const only = new Set(opt('--only', 'turn,stream,idle,storm,micro').split(','));
const explicitServers = argv.includes('--servers');
const serverNames = opt('--servers', 'chatwire,ws,uws,ws-heavy,socketio-heavy,uws-heavy').split(',');
const turnConns = opt('--conns', smoke ? '20' : '100,1000').split(',').map(Number);
const warmupMs = Number(opt('--warmup-ms', smoke ? 300 : 3000));
const durationMs = Number(opt('--duration-ms', smoke ? 1000 : 10000));
// The idle target is 100,000 connections in one process; the server and
// the load generator each hold one descriptor per connection, so the count is
// capped by this machine's open-files limit (both inherit ours).
const IDLE_WANTED = 100000;
const nofile = (() => {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
})();
const idleConns = Number(opt('--idle-conns', smoke ? 200 : Math.min(IDLE_WANTED, nofile - 2000)));
const idleHoldMs = Number(opt('--idle-hold-ms', smoke ? 1500 : 25000));
const idlePingMs = Number(opt('--idle-ping-ms', smoke ? 500 : 10000));
const stormConns = Number(opt('--storm-conns', smoke ? 100 : 10000));
const stormJitters = opt('--storm-jitters', '0,0.5').split(',').map(Number);
const jsonOut = opt('--json', smoke ? null : join(benchDir, 'results', 'latest.json'));
const srcIps = Math.max(8, Math.ceil(idleConns / 20000));  // ~28k ephemeral ports per source address

const failures = [];
const fail = (what) => {
  failures.push(what);
  console.error(`bench: BROKEN: ${what}`);
};

// ------------------------------------------------------------------ machine

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu: model.trim(),
    memGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
    loadavg: os.loadavg().map((x) => x.toFixed(2)),
    command: `node bench/run.mjs ${argv.join(' ')}`.trim(),
    dbDir,
  };
}

// ------------------------------------------------------------------ load generator

const loadgenBin = join(root, 'out', 'bench', 'loadgen');
function buildLoadgen() {
  const src = join(benchDir, 'loadgen', 'loadgen.c');
  if (existsSync(loadgenBin) && statSync(loadgenBin).mtimeMs >= statSync(src).mtimeMs) return;
  mkdirSync(dirname(loadgenBin), { recursive: true });
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', loadgenBin, src], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('bench: cannot build the load generator (cc bench/loadgen/loadgen.c)');
}

function runLoadgen(args, { onLine, stdinRef } = {}) {
  return new Promise((resolve) => {
    const child = spawn(loadgenBin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    if (stdinRef) stdinRef.stdin = child.stdin;
    let out = '';
    let err = '';
    let pending = '';
    child.stdout.on('data', (d) => {
      out += d;
      pending += d;
      let i;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 1);
        onLine?.(line);
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => {
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      let result = null;
      try { result = line ? JSON.parse(line) : null; } catch { result = null; }
      resolve({ code, result, stderr: err });
    });
  });
}

// ------------------------------------------------------------------ servers

// ws and uws: the servers a user would write instead (lite-protocol.mjs: two
// rows per turn). *-heavy: the same transports writing chatwire's own schema
// (baseline-protocol.mjs), today's second table.
const SIO_PATH = '/socket.io/?EIO=4&transport=websocket';
const SERVERS = {
  chatwire: { label: 'chatwire', file: 'chatwire.mjs', proto: 'cw', path: '/ws/chat', args: [] },
  ws: { label: 'ws', file: 'ws.mjs', proto: 'cw', path: '/ws/chat', args: ['--store', 'lite'] },
  uws: { label: 'uWS.js', file: 'uws.mjs', proto: 'cw', path: '/ws/chat', args: ['--store', 'lite'] },
  'ws-heavy': { label: 'ws·heavy', file: 'ws.mjs', proto: 'cw', path: '/ws/chat', args: ['--store', 'heavy'], heavy: true },
  'socketio-heavy': { label: 'Socket.IO·heavy', file: 'socketio.mjs', proto: 'sio', path: SIO_PATH,
    args: ['--store', 'heavy'], heavy: true },
  'uws-heavy': { label: 'uWS.js·heavy', file: 'uws.mjs', proto: 'cw', path: '/ws/chat', args: ['--store', 'heavy'],
    heavy: true },
};
for (const n of serverNames) {
  if (!SERVERS[n]) {
    console.error(`bench: unknown server '${n}' in --servers; known: ${Object.keys(SERVERS).join(', ')}`);
    process.exit(2);
  }
}
const LITE = ['chatwire', 'ws', 'uws'];
const STREAM_DELTAS = 20;  // bench/servers/common.mjs

// Every server's SQLite file lives under --db-dir: tmpfs (/dev/shm) by default,
// as issue 19 measured, so the numbers compare CPU per turn rather than this
// VM's shared disk (fsync 4-40 ms on some runs); --db-dir /tmp for a disk.
const dbDir = opt('--db-dir', existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
const tmp = mkdtempSync(join(dbDir, 'chatwire-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function startServer(name, { port = 0, db, mode = 'turn', reply = 'plain', nodeArgs = [] } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, join(benchDir, 'servers', SERVERS[name].file),
      '--port', String(port), '--db', db, '--mode', mode, '--reply', reply, ...SERVERS[name].args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} did not start in 20 s: ${err}`)); }, 20000);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) {
        clearTimeout(timer);
        const { port: p } = JSON.parse(line);
        resolve({ child, port: p, pid: child.pid, stderr: () => err });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready: ${err.trim()}`));
    });
  });
}

function stopServer(s, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode) return resolve();
    const t = setTimeout(() => s.child.kill('SIGKILL'), 10000);
    s.child.once('exit', () => { clearTimeout(t); resolve(); });
    s.child.kill(signal);
  });
}

const dbFile = (tag) => join(tmp, `${tag}-${Date.now()}-${Math.random().toString(16).slice(2, 8)}.db`);

// ------------------------------------------------------------------ scenario 1: chat turn, plain and streamed

// reply 'plain': message -> confirm -> response. 'stream': message -> confirm
// -> 20 deltas -> response; the load generator checks every turn carries its
// 20 deltas in order and waits for the response. The heavy-schema baselines
// run the streamed turn only when named in --servers.
async function scenarioTurn(results, reply) {
  const tag = reply === 'stream' ? 'stream' : 'turn';
  for (const conns of turnConns) {
    for (const name of serverNames) {
      const s = SERVERS[name];
      if (reply === 'stream' && s.heavy && !explicitServers) continue;
      let server;
      try {
        server = await startServer(name, { db: dbFile(name), reply });
      } catch (e) {
        fail(`${tag} ${name}: ${e.message}`);
        continue;
      }
      const r = await runLoadgen(['--mode', 'turn', '--port', String(server.port), '--proto', s.proto,
        '--path', s.path, '--conns', String(conns), '--warmup-ms', String(warmupMs),
        '--duration-ms', String(durationMs), '--server-pid', String(server.pid), '--src-ips', String(srcIps),
        '--deltas', String(reply === 'stream' ? STREAM_DELTAS : 0)]);
      await stopServer(server);
      const x = r.result;
      if (!x) {
        fail(`${tag} ${name} @${conns}: load generator failed (exit ${r.code}): ${r.stderr.trim()}`);
        continue;
      }
      const broken = [];
      if (x.connected !== conns) broken.push(`${x.connected}/${conns} connected`);
      if (!(x.turns > 0)) broken.push('no turn completed');
      for (const [k, v] of Object.entries(x.errors)) if (v) broken.push(`${k}=${v}`);
      if (broken.length) fail(`${tag} ${name} @${conns}: ${broken.join(', ')}`);
      results.turn.push({ server: name, conns, reply, ...x });
      console.error(`bench: ${tag.padEnd(6)} ${s.label.padEnd(15)} ${String(conns).padStart(5)} conns: ` +
        `${x.turnsPerS.toFixed(0)} turns/s, p50 ${(x.p50Us / 1000).toFixed(2)} ms, p99 ${(x.p99Us / 1000).toFixed(2)} ms, ` +
        `server ${x.serverCpuUsPerTurn.toFixed(1)} µs CPU/turn (${x.serverCpuPct.toFixed(0)}%), gen ${x.genCpuPct.toFixed(0)}%`);
    }
  }
}

// ------------------------------------------------------------------ scenario 2: idle capacity

async function scenarioIdle(results) {
  for (const name of LITE) {
    if (!serverNames.includes(name)) continue;
    let server;
    try {
      server = await startServer(name, { db: dbFile(`idle-${name}`), mode: 'product' });
    } catch (e) {
      fail(`idle ${name}: ${e.message}`);
      continue;
    }
    await new Promise((r) => setTimeout(r, 500));  // let startup allocations settle before the RSS baseline
    const r = await runLoadgen(['--mode', 'idle', '--port', String(server.port), '--path', SERVERS[name].path,
      '--conns', String(idleConns), '--hold-ms', String(idleHoldMs), '--ping-ms', String(idlePingMs),
      '--server-pid', String(server.pid), '--src-ips', String(srcIps), '--concurrency', '256']);
    await stopServer(server);
    const x = r.result;
    if (!x) {
      fail(`idle ${name}: load generator failed (exit ${r.code}): ${r.stderr.trim()}`);
      continue;
    }
    const broken = [];
    if (x.connected !== idleConns) broken.push(`${x.connected}/${idleConns} connected`);
    for (const [k, v] of Object.entries(x.errors)) if (v) broken.push(`${k}=${v}`);
    if (x.pongs < x.pingsSent - idleConns) broken.push(`${x.pongs} pongs for ${x.pingsSent} pings`);
    if (broken.length) fail(`idle ${name}: ${broken.join(', ')}`);
    results.idle.push({ server: name, ...x });
    console.error(`bench: idle ${SERVERS[name].label.padEnd(9)} ${idleConns} conns: ${x.connectRate.toFixed(0)} connects/s, ` +
      `RSS ${(x.serverRssBeforeKb / 1024).toFixed(0)} -> ${(x.serverRssHoldKb / 1024).toFixed(0)} MB, ` +
      `${(x.serverRssPerConnB / 1024).toFixed(1)} KiB/conn, ${x.pongs}/${x.pingsSent} pongs`);
  }
}

// ------------------------------------------------------------------ scenario 3: reconnect storm

async function scenarioStorm(results) {
  if (!serverNames.includes('chatwire')) return;
  for (const jitter of stormJitters) {
    const db = dbFile('storm');
    let server;
    try {
      server = await startServer('chatwire', { db, mode: 'product' });
    } catch (e) {
      fail(`storm: ${e.message}`);
      continue;
    }
    const port = server.port;
    const stdinRef = {};
    let restart = null;
    let restartMs = null;
    const gen = runLoadgen(['--mode', 'storm', '--port', String(port), '--conns', String(stormConns),
      '--jitter', String(jitter), '--src-ips', String(srcIps), '--concurrency', '256',
      '--storm-timeout-ms', smoke ? '45000' : '60000'], {
      stdinRef,
      onLine: (line) => {
        if (line.trim() !== 'READY') return;
        restart = (async () => {
          stdinRef.stdin.write('SEND\n');               // one more message each, in flight...
          await new Promise((r) => setTimeout(r, 3));
          server.child.kill('SIGKILL');                  // ...when the server dies
          await new Promise((r) => server.child.once('exit', r));
          const t0 = Date.now();
          for (let i = 0; ; i++) {
            try {
              server = await startServer('chatwire', { port, db, mode: 'product' });
              break;
            } catch (e) {
              if (i > 50) throw e;
              await new Promise((r) => setTimeout(r, 100));
            }
          }
          restartMs = Date.now() - t0;
        })().catch((e) => fail(`storm restart: ${e.message}`));
      },
    });
    const r = await gen;
    await restart;
    await stopServer(server);
    const x = r.result;
    if (!x) {
      fail(`storm jitter=${jitter}: load generator failed (exit ${r.code}): ${r.stderr.trim()}`);
      continue;
    }
    const broken = [];
    if (x.connected !== stormConns) broken.push(`${x.connected}/${stormConns} connected`);
    if (x.lost !== stormConns) broken.push(`only ${x.lost} connections saw the restart`);
    if (x.recovered + x.failedClients < x.lost || x.failedClients) broken.push(`${x.recovered}/${x.lost} recovered, ${x.failedClients} gave up`);
    if (x.eventsLost) broken.push(`${x.eventsLost} events lost`);
    if (x.resumedFalse || x.recoveredFalse) broken.push(`resumed:false ${x.resumedFalse}, recovered:false ${x.recoveredFalse}`);
    if (broken.length) fail(`storm jitter=${jitter}: ${broken.join(', ')}`);
    results.storm.push({ server: 'chatwire', restartMs, ...x });
    console.error(`bench: storm jitter=${jitter} ${stormConns} conns: 99% recovered ${x.timeTo99PctMs} ms after the ` +
      `first loss (restart took ${restartMs} ms), peak ${x.peakAcceptsPerS} accepts/s, ${x.failedHandshakes} failed ` +
      `handshakes, ${x.eventsLost} events lost`);
  }
}

// ------------------------------------------------------------------ scenario 4: micro-suite

async function scenarioMicro(results) {
  const r = spawnSync(process.execPath, [join(benchDir, 'micro.mjs'), ...(smoke ? ['--smoke'] : [])],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) {
    fail(`micro: exit ${r.status}: ${(r.stderr ?? '').trim().slice(-2000)}`);
    return;
  }
  process.stderr.write(r.stderr);
  results.micro = JSON.parse(line);
  // The rest of the micro-suite (base64 vs platform functions, browser cold
  // start) has its own scripts; full runs include their output. Not in smoke
  // mode: they take minutes and have their own tests.
  if (smoke) return;
  for (const extra of ['base64.mjs', 'browser-cold-start.mjs']) {
    const file = join(benchDir, extra);
    if (!existsSync(file)) continue;
    const e = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 300000 });
    if (e.status !== 0) fail(`bench/${extra}: exit ${e.status ?? e.signal}: ${(e.stderr ?? '').trim().slice(-1000)}`);
    results.extra[extra] = (e.stdout ?? '').trim();
  }
}

// ------------------------------------------------------------------ report

const f0 = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (a, b) => (a > 0 && b > 0 ? `${(a / b).toFixed(2)}×` : '–');

function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(w[i])).join(' | ')} |`;
  return [line(headers), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function report(results) {
  const out = [];
  const m = results.machine;
  out.push(`chatwire bench — ${m.date} — ${m.cpu} × ${m.nproc} (nproc), ${m.memGb} GB, Node ${m.node}, ` +
    `load average at start ${m.loadavg.join(' ')}`);
  out.push(`command: ${m.command}; SQLite files in ${m.dbDir}`);
  const turnRow = (x, cw) => [x.conns, SERVERS[x.server].label, f0(x.turnsPerS), f0(x.p50Us / 1000),
    f0(x.p99Us / 1000), f0(x.serverCpuUsPerTurn), `${x.serverCpuPct.toFixed(0)}%`, f0(x.serverRssKb / 1024),
    `${x.genCpuPct.toFixed(0)}%`,
    x.server === 'chatwire' || !cw ? '1.00×' : ratio(cw.turnsPerS, x.turnsPerS),
    x.server === 'chatwire' || !cw ? '1.00×' : ratio(x.serverCpuUsPerTurn, cw.serverCpuUsPerTurn)];
  const turnHead = ['conns', 'server', 'turns/s', 'p50 ms', 'p99 ms', 'server CPU µs/turn', 'server CPU',
    'RSS MB', 'loadgen CPU', 'chatwire turns/s ÷ this', 'this CPU/turn ÷ chatwire'];
  const find = (server, reply, conns) => results.turn.find((x) => x.server === server && x.reply === reply &&
    x.conns === conns);
  const how = `one turn in flight per connection, SQLite file, ${durationMs / 1000} s window after ` +
    `${warmupMs / 1000} s warm-up`;
  const sections = [
    ['plain', '1a. Chat turn against hand-written servers (message → confirm → response, 256 B JSON; ws and uWS.js ' +
      'store two rows per turn)', (x) => !SERVERS[x.server].heavy],
    ['stream', `1b. Streamed turn against hand-written servers (message → confirm → ${STREAM_DELTAS} deltas of 4 ` +
      'characters → response; the same two rows)', (x) => !SERVERS[x.server].heavy],
    ['plain', '1c. Chat turn against the heavy-schema baselines (·heavy: ws, Socket.IO and uWS.js writing ' +
      "chatwire's own tables and indexes, baseline-protocol.mjs)", (x) => x.server === 'chatwire' || SERVERS[x.server].heavy],
    ['stream', '1d. Streamed turn against the heavy-schema baselines',
      (x) => x.server === 'chatwire' || SERVERS[x.server].heavy],
  ];
  for (const [reply, title, keep] of sections) {
    const xs = results.turn.filter((x) => x.reply === reply && keep(x));
    if (!xs.length || (title.startsWith('1c') || title.startsWith('1d')) && !xs.some((x) => SERVERS[x.server].heavy)) {
      continue;
    }
    out.push('', `### ${title}, ${how}`, '');
    const rows = [];
    for (const conns of turnConns) {
      const cw = find('chatwire', reply, conns);
      for (const x of xs.filter((y) => y.conns === conns)) rows.push(turnRow(x, cw));
    }
    out.push(table(turnHead, rows));
  }
  // The issue-19 summary: at the largest connection count, turns/s (server CPU
  // per turn) per scenario, the ratios, and what one delta costs.
  const top = Math.max(...turnConns);
  const have = (name) => results.turn.some((x) => x.server === name && x.conns === top);
  const cols = LITE.filter(have);
  if (cols.length && results.turn.some((x) => x.conns === top && x.server === 'chatwire')) {
    const order = ['ws', 'uws', 'chatwire'].filter((n) => cols.includes(n));
    const others = order.filter((n) => n !== 'chatwire');
    const cell = (x) => (x ? `${Math.round(x.turnsPerS).toLocaleString('en-US')} (${f0(x.serverCpuUsPerTurn)} µs)` : '–');
    const rows = [];
    for (const [reply, label] of [['plain', 'chat turn: turns/s (server CPU per turn)'],
      ['stream', `turn with a reply streamed as ${STREAM_DELTAS} deltas`]]) {
      const cw = find('chatwire', reply, top);
      if (!cw) continue;
      rows.push([label, ...order.map((n) => cell(find(n, reply, top))),
        ...others.map((n) => { const o = find(n, reply, top); return o ? ratio(cw.turnsPerS, o.turnsPerS) : '–'; }),
        ...others.map((n) => { const o = find(n, reply, top); return o ? ratio(o.serverCpuUsPerTurn, cw.serverCpuUsPerTurn) : '–'; })]);
    }
    const perDelta = (n) => {
      const p = find(n, 'plain', top);
      const st = find(n, 'stream', top);
      return p && st ? (st.serverCpuUsPerTurn - p.serverCpuUsPerTurn) / STREAM_DELTAS : null;
    };
    if (order.every((n) => perDelta(n) !== null)) {
      const cwd = perDelta('chatwire');
      rows.push([`one delta: server CPU µs ((streamed − plain) ÷ ${STREAM_DELTAS})`,
        ...order.map((n) => f0(perDelta(n))), ...others.map(() => '–'),
        ...others.map((n) => (perDelta(n) > 0 && cwd > 0 ? ratio(perDelta(n), cwd) : '–'))]);
    }
    const lab = (n) => SERVERS[n].label;
    out.push('', `### Summary at ${top} connections (as issue 19's table)`, '');
    out.push(table(['scenario', ...order.map(lab), ...others.map((n) => `chatwire ÷ ${lab(n)} (turns/s)`),
      ...others.map((n) => `${lab(n)} CPU ÷ chatwire CPU`)], rows));
  }
  if (results.idle.length) {
    const capped = idleConns < IDLE_WANTED && nofile < IDLE_WANTED + 2000
      ? ` — ${IDLE_WANTED.toLocaleString('en-US')} wanted; \`ulimit -n\` is ${nofile} here and each side holds one ` +
        `descriptor per connection, so at most ${(nofile - 2000).toLocaleString('en-US')} fit` : '';
    out.push('', `### 2. Idle capacity (${idleConns} connections, ping every ${idlePingMs / 1000} s, held ` +
      `${idleHoldMs / 1000} s; RSS of the server process${capped})`, '');
    const cw = results.idle.find((x) => x.server === 'chatwire');
    const rows = results.idle.map((x) => [SERVERS[x.server].label, x.connected, f0(x.connectRate),
      f0(x.serverRssBeforeKb / 1024), f0(x.serverRssHoldKb / 1024), f0(x.serverRssPerConnB / 1024),
      `${x.pongs}/${x.pingsSent}`, x.server === 'chatwire' || !cw ? '1.00×' : ratio(cw.serverRssPerConnB, x.serverRssPerConnB)]);
    out.push(table(['server', 'connected', 'connects/s', 'RSS before MB', 'RSS held MB', 'KiB/conn', 'pongs/pings',
      'chatwire KiB/conn ÷ this'], rows));
  }
  if (results.storm.length) {
    out.push('', `### 3. Reconnect storm (chatwire, ${stormConns} clients, server SIGKILLed with a message in ` +
      'flight on every connection and restarted on the same SQLite file; reconnect after 5 s × (1 + jitter·u))', '');
    const rows = results.storm.map((x) => [x.jitter, x.restartMs, x.timeTo99PctMs, x.recoveryP50Ms, x.recoveryP99Ms,
      x.recoveryMaxMs, x.peakAcceptsPerS, x.failedHandshakes, `${x.recovered}/${x.lost}`, x.abandonedTurns,
      x.eventsLost, Math.round(5000 * (1 + x.jitter) + 2000)]);
    out.push(table(['jitter', 'restart ms', '99% recovered ms', 'p50 ms', 'p99 ms', 'max ms', 'peak accepts/s',
      'failed handshakes', 'recovered', 'abandoned turns', 'events lost', 'target ms'], rows));
  }
  if (results.micro) {
    const mi = results.micro;
    out.push('', '### 4. Client and store micro-suite (Node in process, and headless Chromium)', '');
    out.push(table(['operation', 'build', 'ops/s', 'ns/op', 'vs'], mi.rows.map((r) =>
      [r.op, r.build, f0(r.opsPerS), f0(r.nsPerOp), r.vs ?? ''])));
  }
  for (const [name, text] of Object.entries(results.extra)) {
    if (text) out.push('', `### bench/${name}`, '', text);
  }
  return out.join('\n');
}

// ------------------------------------------------------------------ main

const results = { machine: machine(), smoke, turn: [], idle: [], storm: [], micro: null, extra: {} };
buildLoadgen();
if (!existsSync(join(root, 'build', 'Release', 'chatwire.node'))) {
  fail('the chatwire addon is not built (node scripts/build.mjs addon)');
} else {
  if (only.has('turn')) await scenarioTurn(results, 'plain');
  if (only.has('stream')) await scenarioTurn(results, 'stream');
  if (only.has('idle')) await scenarioIdle(results);
  if (only.has('storm')) await scenarioStorm(results);
  if (only.has('micro')) await scenarioMicro(results);
}
results.machine.loadavgEnd = os.loadavg().map((x) => x.toFixed(2));
results.failures = failures;
const text = report(results);
console.log(text);
console.log(`\nload average at end ${results.machine.loadavgEnd.join(' ')}`);
if (jsonOut) {
  mkdirSync(dirname(jsonOut), { recursive: true });
  writeFileSync(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(jsonOut.replace(/\.json$/, '.md'), `${text}\n`);
  if (results.turn.length) plot(jsonOut);
}

// bench/turns.png from the results (matplotlib: Debian's python3-matplotlib,
// installed by scripts/setup.sh). A missing plotting library is a note, not a failure.
function plot(file) {
  // bench/turns.png for the default results file; next to any other --json file.
  const out = file === join(benchDir, 'results', 'latest.json') ? join(benchDir, 'turns.png') : file.replace(/\.json$/, '') + '.png';
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, [join(benchDir, 'plot.py'), file, out], { encoding: 'utf8' });
    if (r.status === 0) {
      console.log(`plot: ${out}`);
      return;
    }
  }
  console.log('plot: skipped (python3 with matplotlib not found: apt-get install python3-matplotlib)');
}
if (failures.length) {
  console.error(`\nbench: ${failures.length} scenario(s) broke:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
