#!/usr/bin/env node
// Chaos run: nothing lost, nothing duplicated, under faults.
//
//   node tests/chaos/chaos.mjs [--turns 10000] [--clients 16] [--wasm 4] [--http 4] [--seed 1]
//                              [--server-restarts 10] [--keep]
//   npm run chaos                      the full run (10,000 turns)
//   npm run chaos -- --turns 500       the short one (what test:hardening runs)
//
// A ChatServer runs in a CHILD process (tests/chaos/server-child.mjs) on one
// SQLite file and port. Many ChatClients (the Node addon build with file
// stores, and WASM builds over `ws` with in-memory stores) run turns one after
// another: send a message, wait until it is processed with its reply. Each
// client talks to the server through its own TCP proxy, so the fault injector
// can cut exactly that client's socket. `--http N`: N of those clients (taken
// alternately from the WASM and the addon ones, from the last) chat over the
// HTTP fallback (PROTOCOL.md "HTTP fallback transport"), half of them with
// `transports: ['http']`, the other half with the default transports through
// a proxy that refuses every `Upgrade: websocket` request (403), so they fall
// back by themselves at every connection; a cut then drops the SSE stream and
// any POST in flight. The audit also checks that those clients never opened
// a WebSocket. Faults:
//   socket_before_confirm  the socket is cut right after the message was written
//   socket_after_confirm   ... when the confirm arrived (status received)
//   socket_mid_stream      ... at the first delta of the reply
//   client_reload_*        the same three points, but the page "reloads": the
//                          socket dies, the ChatClient is closed and a new one
//                          is created on the same file (addon clients only; a
//                          WASM client in Node has no persistent storage)
//   server_crash           the server process is SIGKILLed, then started again
//   server_restart         the server is stopped (SIGTERM: server.close()) and started again
//   handler_error          the message's first handler run throws ("F:" messages)
// A server restart abandons the turns that were running (a stored `internal`
// error): the client shows the message failed, and this client, like a real
// app, retries failed messages (retry(): same messageId, processed again).
//
// At the end it audits:
//   - every client's store (addon: a fresh ChatClient on the file, every page
//     loaded from the local store; WASM: its in-memory store): each sent
//     message exactly once and processed, each reply exactly once with the
//     right text, nothing else;
//   - the server's event log, read back through the protocol (a resume from
//     lastSeq 0 replays every stored event of each conversation): exactly one
//     `response` per sent message;
//   - the handler log: a message's handler ran again only after a run that
//     failed or was abandoned (runs <= 1 + stored errors for it), and ran to
//     its end at most once.
// Prints turns, faults by kind, lost and duplicated; exits 1 unless both are 0.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import * as addonBuild from '../../js/node.mjs';
import * as wasmBuild from '../../js/wasm-node.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// ------------------------------------------------------------------ options
const args = process.argv.slice(2);
function opt(name, fallback) {
  const i = args.lastIndexOf(`--${name}`);  // the last one wins: `npm run chaos -- --turns 500`
  if (i < 0) return fallback;
  const v = args[i + 1];
  return typeof fallback === 'number' ? Number(v) : v;
}
const TURNS = opt('turns', 10000);
const ADDON_CLIENTS = opt('clients', 16);
const WASM_CLIENTS = opt('wasm', 4);
const HTTP_CLIENTS = Math.min(opt('http', 4), ADDON_CLIENTS + WASM_CLIENTS);
const SEED = opt('seed', 1);
const SERVER_RESTARTS = opt('server-restarts', Math.max(2, Math.round(TURNS / 1000)));
const KEEP = args.includes('--keep');
const STALL_MS = 30000;

// Fault probabilities per turn.
const P_SOCKET = 0.15;
const P_RELOAD = 0.04;   // addon clients only
const P_HANDLER = 0.02;

// mulberry32: fault decisions reproducible for a seed (timing is not).
let rngState = SEED >>> 0;
function rand() {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(rand() * list.length)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const faults = {};
const fault = (kind) => { faults[kind] = (faults[kind] ?? 0) + 1; };
const retries = {};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-chaos-'));
const dbPath = path.join(tmp, 'server.db');
const logPath = path.join(tmp, 'handler.log');

// ------------------------------------------------------------------ server process
async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

class ServerProcess {
  constructor(port) {
    this.port = port;
    this.child = null;
    this.starts = 0;
    // The child must not outlive the run, whatever ends it.
    process.on('exit', () => this.child?.kill('SIGKILL'));
  }

  async start() {
    for (let tryNo = 0; ; tryNo++) {
      const child = fork(path.join(here, 'server-child.mjs'), [String(this.port), dbPath, logPath],
        { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const ok = await new Promise((resolve) => {
        child.once('message', (m) => resolve(Boolean(m?.ready)));
        child.once('exit', () => resolve(false));
      });
      if (ok) {
        this.child = child;
        this.exited = new Promise((r) => child.once('exit', r));
        this.starts++;
        return;
      }
      // The port may still be held for a moment by the process that just died.
      if (tryNo > 50) throw new Error('chaos: the server process does not start');
      await sleep(100);
    }
  }

  async crash() {
    const c = this.child;
    this.child = null;
    c.kill('SIGKILL');
    await this.exited;
  }

  async stop() {
    const c = this.child;
    this.child = null;
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10000);
    await this.exited;
    clearTimeout(t);
  }
}

// ------------------------------------------------------------------ per-client TCP proxy
// Each client reaches the server through its own proxy, so one client's
// socket can be cut at a chosen moment (an RST both ways, like a dropped
// network path), and a connection attempt while the server is down fails.
// With `refuseUpgrade` it reads each request head first and answers a
// WebSocket upgrade with 403 (as a corporate proxy does; every request of this
// server is its own connection, so the first head is the only one).
class Proxy {
  constructor(upstreamPort, { refuseUpgrade = false } = {}) {
    this.upstreamPort = upstreamPort;
    this.pairs = new Set();
    this.upgradesRefused = 0;
    this.server = net.createServer((down) => (refuseUpgrade ? this.#screen(down) : this.#pair(down)));
  }

  #screen(down) {
    let head = Buffer.alloc(0);
    const onData = (d) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length < 16384) return;
      down.off('data', onData);
      down.pause();
      if (/^upgrade:[ \t]*websocket/im.test(head.subarray(0, end < 0 ? head.length : end).toString('latin1'))) {
        this.upgradesRefused++;
        down.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      this.#pair(down, head);
    };
    down.on('data', onData);
    down.on('error', () => down.destroy());
  }

  async listen() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = this.server.address().port;
  }

  #pair(down, head = null) {
    const up = net.connect(this.upstreamPort, '127.0.0.1');
    if (head) up.write(head);
    const pair = { down, up };
    this.pairs.add(pair);
    const end = () => {
      if (!this.pairs.delete(pair)) return;
      down.destroy();
      up.destroy();
    };
    for (const s of [down, up]) {
      s.on('error', end);
      s.on('close', end);
    }
    down.pipe(up);
    up.pipe(down);
    down.resume();
  }

  /** Cuts every connection of this client now. */
  cut() {
    for (const p of [...this.pairs]) {
      this.pairs.delete(p);
      p.down.resetAndDestroy();
      p.up.resetAndDestroy();
    }
  }

  close() {
    this.cut();
    return new Promise((r) => this.server.close(r));
  }
}

// ------------------------------------------------------------------ clients
let turnsStarted = 0;
let turnsDone = 0;
let lastProgress = Date.now();

class Slot {
  constructor(k, kind, proxy, transport = 'websocket') {
    this.k = k;
    this.kind = kind;                        // 'addon' | 'wasm'
    this.transport = transport;              // 'websocket' | 'http' (transports: ['http']) | 'fallback' (refused upgrade)
    this.opens = {};                         // connection.transport -> opens
    this.build = kind === 'addon' ? addonBuild : wasmBuild;
    this.proxy = proxy;
    this.storage = kind === 'addon' ? path.join(tmp, `client-${k}.db`) : 'memory';
    this.sent = new Map();                   // messageId -> content
    this.conversations = new Set();
    this.client = null;
    this.current = null;
    this.reloads = 0;
  }

  get url() { return `ws://127.0.0.1:${this.proxy.port}/ws/chat`; }

  async open() {
    const client = await this.build.ChatClient.create({
      url: this.url,
      storage: this.storage,
      WebSocket,
      reconnect: { maxAttempts: 10, delaysMs: [50, 100, 200], minDelayMs: 50 },
      ...(this.transport === 'http' ? { transports: ['http'] } : {}),
    });
    this.client = client;
    this.clientId = client.clientId;
    client.on('update', () => this.check());
    client.on('message', (m) => this.onMessage(m));
    client.on('delta', (d) => this.onDelta(d));
    client.on('error', () => {});
    client.on('connection', (s) => {
      if (s.conversationId) this.conversations.add(s.conversationId);
      if (s.status === 'open') this.opens[s.transport] = (this.opens[s.transport] ?? 0) + 1;
      // A real app offers "reconnect" after `failed` (or gets `online`).
      if (s.status === 'failed') setTimeout(() => { if (this.client === client) client.reconnect().catch(() => {}); }, 100);
    });
    client.connect().catch(() => {});
  }

  // Page reload: the tab dies (its socket with it, half the time) and a new
  // ChatClient restores everything from the same file.
  async reload() {
    const old = this.client;
    if (!old) return;
    this.client = null;
    this.reloads++;
    if (rand() < 0.5) this.proxy.cut();
    await old.close();
    await this.open();
    this.check();
  }

  trigger(point) {
    const cur = this.current;
    if (!cur || cur.fired || cur.plan?.point !== point) return;
    cur.fired = true;
    fault(cur.plan.kind);
    if (cur.plan.kind.startsWith('socket')) this.proxy.cut();
    else setImmediate(() => this.reload().catch((e) => fail(`reload of client ${this.k} failed: ${e.stack}`)));
  }

  onMessage(m) {
    const cur = this.current;
    if (cur && m.id === cur.id && m.status === 'received') this.trigger('after_confirm');
  }

  onDelta(d) {
    const cur = this.current;
    if (cur && d.replyTo === cur.id) this.trigger('mid_stream');
  }

  // Is the current turn done? Retries it when it failed (abandoned by a
  // server restart, or a handler error), as an app's retry would.
  check() {
    const cur = this.current;
    const c = this.client;
    if (!cur || !cur.id || !c) return;
    const list = c.messages;
    let user;
    let reply;
    for (let i = list.length - 1; i >= 0 && (!user || !reply); i--) {
      const m = list[i];
      if (m.id === cur.id) user = m;
      else if (m.role === 'assistant' && m.replyTo === cur.id) reply = m;
    }
    if (!user) return;
    if (user.status === 'failed' && !cur.retrying) {
      cur.retrying = true;
      // Why it failed: the server went away mid-turn (abandoned), or the handler failed.
      const text = user.error?.message ?? '';
      const why = /server (stopped|shut down)/.test(text) ? 'abandoned_by_server_restart'
        : /assistant failed/.test(text) ? 'handler_error' : `${user.error?.code}: ${text}`;
      retries[why] = (retries[why] ?? 0) + 1;
      setImmediate(() => {
        cur.retrying = false;
        if (this.client === c) c.retry(cur.id).catch(() => {});
      });
      return;
    }
    if (user.status === 'processed' && reply && reply.content === `re: ${cur.content}`) cur.done();
  }

  async run() {
    while (turnsStarted < TURNS) {
      const n = turnsStarted++;
      const content = `${rand() < P_HANDLER ? 'F:' : ''}c${this.k}-t${n}`;
      if (content.startsWith('F:')) fault('handler_error');
      let plan = null;
      const r = rand();
      const point = pick(['before_confirm', 'after_confirm', 'mid_stream']);
      if (r < P_SOCKET) plan = { kind: `socket_${point}`, point };
      else if (this.kind === 'addon' && r < P_SOCKET + P_RELOAD) plan = { kind: `client_reload_${point}`, point };
      const cur = { content, plan, fired: false, id: null, retrying: false };
      const done = new Promise((resolve) => { cur.done = resolve; });
      this.current = cur;
      while (!this.client) await sleep(5);  // a reload in progress
      cur.id = await this.client.send({ content });
      this.sent.set(cur.id, content);
      this.trigger('before_confirm');
      this.check();
      const poll = setInterval(() => this.check(), 250);
      await done;
      clearInterval(poll);
      this.current = null;
      turnsDone++;
      lastProgress = Date.now();
    }
  }
}

// ------------------------------------------------------------------ audits
// Everything the server stored for a conversation, read back through the
// protocol: resume it from lastSeq 0 and collect the replay (then ping: the
// pong comes after the last replayed frame).
function replayConversation(port, clientId, conversationId) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/chat`);
    const frames = [];
    const timer = setTimeout(() => { ws.terminate(); reject(new Error('replay audit timed out')); }, 20000);
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connect', clientId, timestamp: new Date().toISOString(),
      conversationId, lastSeq: 0 })));
    ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      if (f.type === 'connect_confirm') {
        if (!f.resumed) reject(new Error(`conversation ${conversationId} did not resume for its client`));
        ws.send(JSON.stringify({ type: 'ping', clientId, timestamp: new Date().toISOString() }));
      } else if (f.type === 'pong') {
        clearTimeout(timer);
        ws.close(1000);
        resolve(frames);
      } else {
        frames.push(f);
      }
    });
  });
}

// Every message of a client's store: a fresh ChatClient (addon: on the same
// file, like a reload) that does not connect, with every local page loaded.
async function storedMessages(slot) {
  let client = slot.client;
  if (slot.kind === 'addon') {
    await client.close();
    client = await slot.build.ChatClient.create({ url: slot.url, storage: slot.storage });
  } else {
    await client.disconnect();
  }
  for (let before = -1; client.messages.length !== before;) {
    before = client.messages.length;
    await client.loadOlder();
  }
  const list = client.messages;
  await client.close();
  slot.client = null;
  return list;
}

// Diagnostics for a stalled run: what the handler log and the server's
// event log say about each stuck message.
async function dumpStuck(slots, server) {
  const log = fs.readFileSync(logPath, 'utf8');
  for (const s of slots) {
    if (!s.current?.id) continue;
    const id = s.current.id;
    console.error(`  handler log for ${id}: ${log.split('\n').filter((l) => l.includes(id)).join(' | ') || 'nothing'}`);
    console.error(`  client view: ${JSON.stringify(s.client?.messages.filter((m) => m.id === id || m.replyTo === id))}`);
    for (const conv of s.conversations) {
      try {
        const frames = await replayConversation(server.port, s.clientId, conv);
        const mine = frames.filter((f) => f.messageId === id || f.replyTo === id);
        console.error(`  server log of ${conv}: ${JSON.stringify(mine)}`);
      } catch (err) {
        console.error(`  server replay of ${conv} failed: ${err.message}`);
      }
    }
  }
}

let failed = false;
function fail(message) {
  failed = true;
  console.error(`chaos: FAIL ${message}`);
}

// ------------------------------------------------------------------ main
async function main() {
  const started = Date.now();
  await wasmBuild.init();
  const server = new ServerProcess(await freePort());
  await server.start();

  const slots = [];
  // The HTTP clients: the last WASM one, the last addon one, the one before
  // each, ...; as http, fallback, fallback, http, ... so that with 4 both
  // builds run both ways.
  const httpSlots = new Map();
  for (let i = 0, w = ADDON_CLIENTS + WASM_CLIENTS - 1, a = ADDON_CLIENTS - 1; httpSlots.size < HTTP_CLIENTS; i++) {
    const k = (i % 2 === 0 && w >= ADDON_CLIENTS) || a < 0 ? w-- : a--;
    const n = httpSlots.size;
    httpSlots.set(k, (n + Math.floor(n / 2)) % 2 === 0 ? 'http' : 'fallback');
  }
  for (let k = 0; k < ADDON_CLIENTS + WASM_CLIENTS; k++) {
    const transport = httpSlots.get(k) ?? 'websocket';
    const proxy = new Proxy(server.port, { refuseUpgrade: transport === 'fallback' });
    await proxy.listen();
    slots.push(new Slot(k, k < ADDON_CLIENTS ? 'addon' : 'wasm', proxy, transport));
  }
  await Promise.all(slots.map((s) => s.open()));

  // Server restarts, spread over the run: alternately a crash and a clean stop.
  const restartAt = Array.from({ length: SERVER_RESTARTS },
    (_, i) => Math.floor(((i + 0.3 + 0.4 * rand()) * TURNS) / SERVER_RESTARTS));
  let restarting = false;
  let restartsDone = 0;
  const injector = setInterval(async () => {
    if (restarting || restartsDone >= restartAt.length || turnsStarted < restartAt[restartsDone]) return;
    restarting = true;
    const crash = restartsDone % 2 === 0;
    restartsDone++;
    fault(crash ? 'server_crash' : 'server_restart');
    if (crash) await server.crash();
    else await server.stop();
    await sleep(Math.floor(rand() * 300));
    await server.start();
    restarting = false;
  }, 5);

  const watchdog = setInterval(() => {
    if (Date.now() - lastProgress < STALL_MS) return;
    console.error(`chaos: no turn finished for ${STALL_MS} ms; stuck clients:`);
    for (const s of slots) {
      if (!s.current) continue;
      const m = s.client?.messages.find((x) => x.id === s.current.id);
      console.error(`  client ${s.k} (${s.kind}, ${s.transport}): ${JSON.stringify(s.client?.connection)} message ${s.current.id} ` +
        `${m?.status} plan ${s.current.plan?.kind} fired ${s.current.fired}`);
    }
    clearInterval(watchdog);
    dumpStuck(slots, server).finally(() => process.exit(2));
  }, 1000);

  let lastReport = Date.now();
  const progress = setInterval(() => {
    if (Date.now() - lastReport < 10000) return;
    lastReport = Date.now();
    console.log(`chaos: ${turnsDone}/${TURNS} turns, ${Math.round((Date.now() - started) / 1000)} s`);
  }, 1000);

  await Promise.all(slots.map((s) => s.run()));
  while (restarting) await sleep(10);
  clearInterval(injector);
  clearInterval(watchdog);
  clearInterval(progress);
  const runSeconds = (Date.now() - started) / 1000;

  // ---- audit: clients' stores
  let lost = 0;
  let duplicated = 0;
  let sentTotal = 0;
  const conversations = [];
  for (const slot of slots) {
    const list = await storedMessages(slot);
    sentTotal += slot.sent.size;
    const users = new Map();
    const replies = new Map();
    for (const m of list) {
      if (m.role === 'user') users.set(m.id, (users.get(m.id) ?? 0) + 1);
      else replies.set(m.replyTo, [...(replies.get(m.replyTo) ?? []), m]);
    }
    for (const [id, content] of slot.sent) {
      const u = users.get(id) ?? 0;
      const r = replies.get(id) ?? [];
      const status = list.find((m) => m.id === id)?.status;
      if (u === 0 || r.length === 0 || status !== 'processed') {
        lost++;
        fail(`client ${slot.k}: message ${id} (${content}) user=${u} status=${status} replies=${r.length}`);
      }
      if (u > 1 || r.length > 1) {
        duplicated++;
        fail(`client ${slot.k}: message ${id} (${content}) stored ${u} times, ${r.length} replies`);
      }
      if (r.length && r.some((x) => x.content !== `re: ${content}`)) fail(`client ${slot.k}: reply to ${id} has the wrong text`);
    }
    for (const id of users.keys()) if (!slot.sent.has(id)) fail(`client ${slot.k}: unknown user message ${id}`);
    for (const id of replies.keys()) if (!slot.sent.has(id)) fail(`client ${slot.k}: reply to an unknown message ${id}`);
    for (const conv of slot.conversations) conversations.push({ slot, conv });
  }

  // ---- audit: the server's event log (by replay) and the handler log
  const responses = new Map();
  const storedErrors = new Map();
  for (const { slot, conv } of conversations) {
    const frames = await replayConversation(server.port, slot.clientId, conv);
    for (const f of frames) {
      if (f.type === 'response') responses.set(f.replyTo, (responses.get(f.replyTo) ?? 0) + 1);
      if (f.type === 'error' && f.messageId) storedErrors.set(f.messageId, (storedErrors.get(f.messageId) ?? 0) + 1);
    }
  }
  await server.stop();
  const starts = new Map();
  const ends = new Map();
  for (const line of fs.readFileSync(logPath, 'utf8').split('\n')) {
    const [what, id] = line.split(' ');
    if (what === 'start') starts.set(id, (starts.get(id) ?? 0) + 1);
    if (what === 'end') ends.set(id, (ends.get(id) ?? 0) + 1);
  }
  let reprocessed = 0;
  for (const slot of slots) {
    for (const [id, content] of slot.sent) {
      const n = responses.get(id) ?? 0;
      const runs = starts.get(id) ?? 0;
      const errors = storedErrors.get(id) ?? 0;
      if (n === 0) { lost++; fail(`server: no stored response for ${id} (${content})`); }
      if (n > 1) { duplicated++; fail(`server: ${n} stored responses for ${id} (${content})`); }
      if (runs > 1 + errors || (ends.get(id) ?? 0) > 1) {
        duplicated++;
        fail(`server: handler ran ${runs} times (${ends.get(id) ?? 0} to the end) for ${id} with ${errors} stored errors`);
      }
      if (runs > 1) reprocessed++;
    }
  }
  if (sentTotal !== TURNS) fail(`sent ${sentTotal} messages, expected ${TURNS}`);
  // ---- audit: the HTTP clients really chatted over HTTP (never a WebSocket),
  // the others over WebSocket. (One of those may open a connection over HTTP
  // now and then: a WebSocket attempt that fails before it opens, e.g. while
  // the server restarts, switches to HTTP at once, PROTOCOL.md; the next
  // reconnect tries the WebSocket again.)
  const opensByTransport = {};
  for (const slot of slots) {
    const want = slot.transport === 'websocket' ? 'websocket' : 'http';
    for (const [t, n] of Object.entries(slot.opens)) {
      const key = `${slot.transport}->${t}`;
      opensByTransport[key] = (opensByTransport[key] ?? 0) + n;
      if (want === 'http' && t !== 'http') fail(`client ${slot.k} (${slot.kind}, ${slot.transport}) opened ${n} connections over ${t}`);
    }
    if (!slot.opens[want]) fail(`client ${slot.k} (${slot.kind}, ${slot.transport}) never opened over ${want}`);
  }

  for (const s of slots) await s.proxy.close();
  const reloads = slots.reduce((a, s) => a + s.reloads, 0);
  console.log(JSON.stringify({
    turns: sentTotal,
    clients: { addon: ADDON_CLIENTS, wasm: WASM_CLIENTS,
      http: slots.filter((s) => s.transport !== 'websocket').map((s) => `${s.k}:${s.kind}/${s.transport}`) },
    opensByTransport,
    upgradesRefusedByProxies: slots.reduce((a, s) => a + s.proxy.upgradesRefused, 0),
    faults,
    serverStarts: server.starts,
    clientReloads: reloads,
    retriesByReason: retries,
    reprocessedAfterFailOrAbandon: reprocessed,
    lost,
    duplicated,
    seconds: Math.round(runSeconds),
  }, null, 1));
  console.log(`chaos: turns=${sentTotal} lost=${lost} duplicated=${duplicated} ${failed ? 'FAIL' : 'ok'}`);
  if (!KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`chaos: files kept in ${tmp}`);
  process.exit(failed ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

main().catch((err) => {
  console.error('chaos: crashed', err);
  process.exit(3);
});
