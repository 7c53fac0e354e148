#!/usr/bin/env node
// Streamed reply into a client (issue 14.13): one turn of N deltas of 50 B
// from a real ChatServer (this process) into a ChatClient + createChatStore in
// a child process, for both builds. Reports the child's CPU from send() until
// the store holds the whole streamed text, per delta. Delta application is
// linear when the cost per delta stays flat as N grows (it grew with N before:
// every delta event carried the whole text so far, 31 s of CPU for 16,000).
//
//   node bench/deltas.mjs            N = 4,000 / 16,000 / 64,000, both builds
//   node bench/deltas.mjs --smoke    N = 2,000
// Prints a table on stderr and one JSON object { rows: [...] } on stdout.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const PIECE = 50;
const piece = (i) => {
  const head = String(i).padStart(6, '0');
  return head + 'x'.repeat(PIECE - head.length);
};

if (process.argv[2] === '--child') {
  // Child: argv = --child <build> <url> <n>
  const [, , , build, url, n] = process.argv;
  const N = Number(n);
  const cw = await import(join(here, build === 'wasm' ? '../js/wasm-node.mjs' : '../js/node.mjs'));
  const { default: WebSocket } = await import('ws');
  await cw.init();
  const client = await cw.ChatClient.create({ url, storage: 'memory', WebSocket });
  const store = cw.createChatStore(client);
  await client.connect();
  const length = N * PIECE;
  const before = process.cpuUsage();
  const t0 = Date.now();
  await client.send({ content: 'stream please' });
  await new Promise((resolve) => {
    const off = store.subscribe((s) => {
      const r = s.messages.find((m) => m.role === 'assistant');
      if (r && r.content.length >= length) { off(); resolve(); }
    });
  });
  const cpu = process.cpuUsage(before);
  process.stdout.write(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, wallMs: Date.now() - t0 }) + '\n');
  await client.close();
  process.exit(0);
}

const { ChatServer } = await import('../js/node.mjs');
const smoke = process.argv.includes('--smoke');
const sizes = smoke ? [2000] : [4000, 16000, 64000];
let N = 0;
const server = new ChatServer({ port: 0 });
server.onMessage(async (msg, reply) => {
  let text = '';
  for (let i = 0; i < N; i++) {
    text += piece(i);
    reply.delta(piece(i));
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  await reply.respond({ content: text });
});
await server.listen();
const url = `ws://127.0.0.1:${server.port}/ws/chat`;

function child(build, n) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', build, url, String(n)],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n')[0])) : reject(new Error(`child exit ${code}`))));
  });
}

const rows = [];
for (const build of ['node', 'wasm']) {
  for (const n of sizes) {
    N = n;
    const r = await child(build, n);
    const row = { build, deltas: n, bytes: n * PIECE, cpuMs: r.cpuMs, wallMs: r.wallMs, usPerDelta: (r.cpuMs * 1000) / n };
    rows.push(row);
    console.error(`deltas: ${build.padEnd(5)} ${String(n).padStart(6)} x ${PIECE} B  ${r.cpuMs.toFixed(0).padStart(6)} ms CPU  ` +
      `${row.usPerDelta.toFixed(1).padStart(6)} µs/delta  (${r.wallMs} ms wall)`);
  }
}
await server.close();
process.stdout.write(JSON.stringify({ rows }) + '\n');
