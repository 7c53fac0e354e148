#!/usr/bin/env node
// Client and store micro-suite (scenario 4 of bench/README.md), both builds in
// one Node process: the addon (js/node.mjs) and the WASM module (js/wasm-node.mjs).
//
//   codec.decode / codec.encode through the public JS API (so the cost of
//   crossing into native code and back, and of building the JS object, is
//   included) against JSON.parse / JSON.stringify of the same text;
//   store inserts: ChatClient.send() into a client that never connects (each
//   message validated, stored as queued and put in the outbox), one at a time
//   (await each) and 10k at once (Promise.all), for the addon with a SQLite
//   file and WASM with its in-memory SQLite; raw better-sqlite3 inserts of a
//   comparable row as the floor.
// The same codec and store rows run again in headless Chromium (the browser
// build, js/browser.mjs, unbundled), against JSON.parse/stringify and raw
// IndexedDB puts (one transaction per record, and all in one); the store rows
// there include persisting to IndexedDB (client.close() flushes IDBFS), since
// that is what a browser insert costs.
// Prints progress on stderr and one JSON object { rows: [...] } on stdout.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const smoke = process.argv.includes('--smoke');
const tmp = mkdtempSync(join(os.tmpdir(), 'chatwire-micro-'));
const rows = [];

const node = await import('../js/node.mjs');
const wasm = await import('../js/wasm-node.mjs');
await wasm.init();

function bench(op, build, fn, { minMs = smoke ? 50 : 600, vs } = {}) {
  for (let i = 0; i < 200; i++) fn();  // warm up (JIT, caches)
  let n = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  let batch = 64;
  while (elapsed < minMs * 1e6) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    batch = Math.min(batch * 2, 65536);
    elapsed = Number(process.hrtime.bigint() - t0);
  }
  const nsPerOp = elapsed / n;
  const row = { op, build, opsPerS: 1e9 / nsPerOp, nsPerOp, vs };
  rows.push(row);
  console.error(`micro: ${op.padEnd(44)} ${build.padEnd(6)} ${nsPerOp.toFixed(0).padStart(7)} ns/op`);
  return row;
}

// ------------------------------------------------------------------ codec

const uuid = () => crypto.randomUUID();
const messageText = (() => {
  const head = { type: 'message', messageId: uuid(), clientId: uuid(), timestamp: '2026-11-24T12:00:00.000Z', content: '' };
  const base = JSON.stringify(head).length;
  head.content = 'x'.repeat(Math.max(1, 256 - base));
  return JSON.stringify(head);
})();
const responseText = JSON.stringify({ type: 'response', messageId: uuid(), replyTo: uuid(),
  content: 'y'.repeat(180), seq: 42, timestamp: '2026-11-24T12:00:00.000Z' });
const messageObj = JSON.parse(messageText);

bench('JSON.parse(message 256 B)', 'js', () => JSON.parse(messageText));
for (const [name, m] of [['addon', node], ['wasm', wasm]]) {
  const r = bench('codec.decode(message 256 B, client)', name, () => {
    const x = m.codec.decode(messageText, { direction: 'client' });
    if (!x.ok) throw new Error(JSON.stringify(x.error));
  });
  r.vs = `${(r.nsPerOp / rows.find((x) => x.op === 'JSON.parse(message 256 B)').nsPerOp).toFixed(1)}× JSON.parse`;
}
bench('JSON.parse(response)', 'js', () => JSON.parse(responseText));
for (const [name, m] of [['addon', node], ['wasm', wasm]]) {
  const r = bench('codec.decode(response, server)', name, () => {
    const x = m.codec.decode(responseText, { direction: 'server' });
    if (!x.ok) throw new Error(JSON.stringify(x.error));
  });
  r.vs = `${(r.nsPerOp / rows.find((x) => x.op === 'JSON.parse(response)').nsPerOp).toFixed(1)}× JSON.parse`;
}
bench('JSON.stringify(message)', 'js', () => JSON.stringify(messageObj));
for (const [name, m] of [['addon', node], ['wasm', wasm]]) {
  const r = bench('codec.encode(message)', name, () => {
    const x = m.codec.encode(messageObj, { direction: 'client' });
    if (!x.ok) throw new Error(JSON.stringify(x.error));
  });
  r.vs = `${(r.nsPerOp / rows.find((x) => x.op === 'JSON.stringify(message)').nsPerOp).toFixed(1)}× JSON.stringify`;
}

// ------------------------------------------------------------------ store inserts

const N_MEM = smoke ? 200 : 10000;
const N = N_MEM;
// A file store commits (and fsyncs) every send: 1,000 of them say as much as 10,000.
const N_FILE = smoke ? 100 : 1000;
const content = 'z'.repeat(200);

async function clientInserts(build, m, storage, extra = {}, label = build, N = N_MEM) {
  build = label;
  const mk = () => m.ChatClient.create({ url: 'ws://127.0.0.1:9/ws/chat', storage: storage(), ...extra });
  // one at a time
  let client = await mk();
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await client.send({ content });
  let ns = Number(process.hrtime.bigint() - t0);
  if (client.messages.length !== N) throw new Error(`${build}: ${client.messages.length} messages stored, want ${N}`);
  rows.push({ op: `ChatClient.send × ${N} (await each, offline)`, build, opsPerS: N / (ns / 1e9), nsPerOp: ns / N });
  console.error(`micro: send one at a time ${build}: ${(N / (ns / 1e9)).toFixed(0)} inserts/s`);
  await client.close?.();
  // all at once
  client = await mk();
  t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: N }, () => client.send({ content })));
  ns = Number(process.hrtime.bigint() - t0);
  if (client.messages.length !== N) throw new Error(`${build}: ${client.messages.length} messages stored, want ${N}`);
  rows.push({ op: `ChatClient.send × ${N} (Promise.all, offline)`, build, opsPerS: N / (ns / 1e9), nsPerOp: ns / N });
  console.error(`micro: send batch ${build}: ${(N / (ns / 1e9)).toFixed(0)} inserts/s`);
  await client.close?.();
}

let fileNo = 0;
await clientInserts('addon', node, () => join(tmp, `client-${fileNo++}.db`), {}, 'addon (file)', N_FILE);
await clientInserts('addon', node, () => 'memory', {}, 'addon (memory)');
await clientInserts('wasm', wasm, () => 'memory', { WebSocket: require('ws') }, 'wasm (memory)');

// raw SQLite floor: the same row shape written by better-sqlite3
{
  const Database = require('better-sqlite3');
  const db = new Database(join(tmp, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE m (id TEXT PRIMARY KEY, ord INTEGER, content TEXT, status TEXT, created_at TEXT)');
  const ins = db.prepare('INSERT INTO m VALUES (?, ?, ?, ?, ?)');
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) ins.run(uuid(), i, content, 'queued', new Date().toISOString());
  let ns = Number(process.hrtime.bigint() - t0);
  rows.push({ op: `raw INSERT × ${N} (autocommit each)`, build: 'better-sqlite3', opsPerS: N / (ns / 1e9), nsPerOp: ns / N });
  const many = db.transaction((k) => { for (let i = 0; i < k; i++) ins.run(uuid(), i, content, 'queued', new Date().toISOString()); });
  t0 = process.hrtime.bigint();
  many(N);
  ns = Number(process.hrtime.bigint() - t0);
  rows.push({ op: `raw INSERT × ${N} (one transaction)`, build: 'better-sqlite3', opsPerS: N / (ns / 1e9), nsPerOp: ns / N });
  db.close();
}

// ------------------------------------------------------------------ headless Chromium

async function pageMicro({ messageText, responseText, n, minMs }) {
  const cw = await import('/js/browser.mjs');
  await cw.init();
  const out = [];
  const bench = (op, build, fn) => {
    for (let i = 0; i < 200; i++) fn();
    let k = 0;
    let batch = 64;
    const t0 = performance.now();
    while (performance.now() - t0 < minMs) {
      for (let i = 0; i < batch; i++) fn();
      k += batch;
      batch = Math.min(batch * 2, 65536);
    }
    const nsPerOp = ((performance.now() - t0) * 1e6) / k;
    const row = { op, build, opsPerS: 1e9 / nsPerOp, nsPerOp };
    out.push(row);
    return row;
  };
  const vs = (row, base, name) => { row.vs = `${(row.nsPerOp / base.nsPerOp).toFixed(1)}× ${name}`; };
  const messageObj = JSON.parse(messageText);
  const check = (x) => { if (!x.ok) throw new Error(JSON.stringify(x.error)); };
  let base = bench('JSON.parse(message 256 B)', 'js (chromium)', () => JSON.parse(messageText));
  vs(bench('codec.decode(message 256 B, client)', 'wasm (chromium)',
    () => check(cw.codec.decode(messageText, { direction: 'client' }))), base, 'JSON.parse');
  base = bench('JSON.parse(response)', 'js (chromium)', () => JSON.parse(responseText));
  vs(bench('codec.decode(response, server)', 'wasm (chromium)',
    () => check(cw.codec.decode(responseText, { direction: 'server' }))), base, 'JSON.parse');
  base = bench('JSON.stringify(message)', 'js (chromium)', () => JSON.stringify(messageObj));
  vs(bench('codec.encode(message)', 'wasm (chromium)',
    () => check(cw.codec.encode(messageObj, { direction: 'client' }))), base, 'JSON.stringify');

  const content = 'z'.repeat(200);
  let dbNo = 0;
  const timed = async (op, build, fn) => {
    const t0 = performance.now();
    await fn();
    const ns = (performance.now() - t0) * 1e6;
    out.push({ op, build, opsPerS: n / (ns / 1e9), nsPerOp: ns / n });
  };
  for (const storage of ['indexeddb', 'memory']) {
    const build = `wasm (chromium, ${storage})`;
    const mk = () => cw.ChatClient.create({ url: 'ws://127.0.0.1:9/ws/chat',
      storage: storage === 'memory' ? 'memory' : `indexeddb:micro-${Date.now()}-${dbNo++}` });
    for (const [how, run] of [
      ['await each', async (c) => { for (let i = 0; i < n; i++) await c.send({ content }); }],
      ['Promise.all', (c) => Promise.all(Array.from({ length: n }, () => c.send({ content })))],
    ]) {
      const client = await mk();
      await timed(`ChatClient.send × ${n} (${how}, offline${storage === 'indexeddb' ? ', persisted' : ''})`, build, async () => {
        await run(client);
        await client.close();  // IDBFS: flushes the database file to IndexedDB
      });
      if (client.messages.length !== n) throw new Error(`${build}: ${client.messages.length} stored, want ${n}`);
    }
  }
  // Raw IndexedDB: the same row shape, one transaction per record, then all in one.
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open(`micro-raw-${Date.now()}`, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('m', { keyPath: 'id' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const row = (i) => ({ id: crypto.randomUUID(), ord: i, content, status: 'queued', createdAt: new Date().toISOString() });
  const done = (tx) => new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
  await timed(`raw IndexedDB put × ${n} (a transaction each)`, 'indexeddb (chromium)', async () => {
    for (let i = 0; i < n; i++) {
      const tx = db.transaction('m', 'readwrite');
      tx.objectStore('m').put(row(i));
      await done(tx);
    }
  });
  await timed(`raw IndexedDB put × ${n} (one transaction)`, 'indexeddb (chromium)', async () => {
    const tx = db.transaction('m', 'readwrite');
    const st = tx.objectStore('m');
    for (let i = 0; i < n; i++) st.put(row(i));
    await done(tx);
  });
  db.close();
  return { rows: out, userAgent: navigator.userAgent };
}

{
  const root = join(new URL('.', import.meta.url).pathname, '..');
  const { launchBrowser, serveStatic } = require(join(root, 'tests/e2e/helpers.js'));
  const browser = await launchBrowser();
  const site = await serveStatic(root);
  try {
    const page = await browser.context.newPage();
    await page.route(`${site.url}__micro.html`, (route) => route.fulfill({
      contentType: 'text/html',
      body: '<!doctype html><script type="importmap">{"imports":{"zustand/vanilla":"/node_modules/zustand/esm/vanilla.mjs"}}</script>',
    }));
    await page.goto(`${site.url}__micro.html`);
    const r = await page.evaluate(pageMicro, { messageText, responseText, n: smoke ? 200 : 10000, minMs: smoke ? 50 : 600 });
    for (const x of r.rows) {
      rows.push(x);
      console.error(`micro: ${x.op.padEnd(44)} ${x.build.padEnd(6)} ${x.nsPerOp.toFixed(0).padStart(7)} ns/op`);
    }
  } finally {
    await browser.close();
    await site.close();
  }
}

rmSync(tmp, { recursive: true, force: true });
console.log(JSON.stringify({ rows }));
