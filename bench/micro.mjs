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

rmSync(tmp, { recursive: true, force: true });
console.log(JSON.stringify({ rows }));
