// Browser cold start of the example widget (npm run bench:browser):
//
//   page load -> WASM ready -> SQLite opened from IndexedDB -> the last 50 of
//   10,000 stored messages in the zustand store
//
// measured with the widget's performance marks (examples/browser-widget/src/main.jsx:
// chatwire:wasm-ready, chatwire:store-open, chatwire:messages-ready; times are
// from the navigation start), median of 10 reloads in headless Chromium. The
// 10,000 messages (5,000 turns) are seeded once, through a ChatClient in the
// page talking to a local ChatServer, into their own IndexedDB database.
// Also prints the gzip size of what the widget downloads for chatwire (its JS
// chunk + the .wasm). Targets: <= 150 ms, <= 450 KB. Prints; never fails on a number.
//
//   RUNS=10 TURNS=5000 node bench/browser-cold-start.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ChatServer } from 'chatwire';

const require = createRequire(import.meta.url);
const { launchBrowser, serveWidget } = require('../tests/e2e/helpers.js');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.RUNS ?? 10);
const TURNS = Number(process.env.TURNS ?? 5000);
const TARGET_MS = 150;
const TARGET_KB = 450;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const gz = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;

// ------------------------------------------------------------------ sizes

function sizes(dist) {
  const assets = path.join(dist, 'assets');
  const files = fs.readdirSync(assets);
  const pick = (re) => files.filter((f) => re.test(f)).map((f) => path.join(assets, f));
  const chatwireJs = pick(/^chatwire-.*\.js$/);
  const wasm = pick(/\.wasm$/);
  const rows = [...chatwireJs, ...wasm].map((f) => ({ file: path.basename(f), raw: fs.statSync(f).size, gzip: gz(f) }));
  const total = rows.reduce((a, r) => a + r.gzip, 0);
  const others = pick(/\.(js|css)$/).filter((f) => !chatwireJs.includes(f))
    .map((f) => ({ file: path.basename(f), raw: fs.statSync(f).size, gzip: gz(f) }));
  return { rows, total, others };
}

// ------------------------------------------------------------------ seed + measure

async function main() {
  const server = new ChatServer({
    port: 0,
    database: ':memory:',
    limits: { messagesPerSecond: 1000000, messageBurst: 1000000 },
  });
  server.onMessage(async (msg, reply) => { await reply.respond({ content: `Reply to ${msg.content}` }); });
  await server.listen();
  const site = await serveWidget(() => server.port);
  const dist = path.join(root, 'examples/browser-widget/dist');
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();

    // Seed from a page with its own (empty) widget database, into database 'bench'.
    let t0 = performance.now();
    await page.goto(`${site.url}?db=bench-seeder`);
    await page.waitForFunction(() => window.chatwireDemo, null, { timeout: 60000 });
    const seeded = await page.evaluate(async ({ url, turns }) => {
      const { ChatClient } = window.chatwireDemo;
      const client = await ChatClient.create({ url, storage: 'indexeddb:bench' });
      await client.connect();
      const done = () => client.messages.length >= 2 * turns &&
        client.messages.every((m) => m.status === 'processed' || m.status === 'complete');
      for (let i = 0; i < turns; i++) {
        await client.send({ content: `Message ${i}: the quick brown fox jumps over the lazy dog.` });
        if (i % 200 === 199) await new Promise((r) => setTimeout(r, 0));  // let frames in
      }
      while (!done()) await new Promise((r) => setTimeout(r, 50));
      const n = client.messages.length;
      await client.close();  // disconnects and saves the database to IndexedDB
      return n;
    }, { url: `ws://127.0.0.1:${server.port}/ws/chat`, turns: TURNS });
    console.log(`seeded ${seeded} messages (${TURNS} turns) into IndexedDB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Reload the widget on that database RUNS times (+1 first load, reported apart).
    const runs = [];
    for (let i = 0; i <= RUNS; i++) {
      await page.goto(`${site.url}?db=bench`);
      const r = await page.evaluate(async () => {
        while (!performance.getEntriesByName('chatwire:messages-ready').length) await new Promise((res) => setTimeout(res, 5));
        const at = (name) => performance.getEntriesByName(name)[0].startTime;
        const nav = performance.getEntriesByType('navigation')[0];
        return {
          html: nav.responseEnd,
          wasm: at('chatwire:wasm-ready'),
          store: at('chatwire:store-open'),
          ready: at('chatwire:messages-ready'),
          messages: performance.getEntriesByName('chatwire:messages-ready')[0].detail.messages,
        };
      });
      runs.push(r);
    }
    const first = runs.shift();
    const col = (k) => median(runs.map((r) => r[k]));
    const ready = col('ready');

    console.log(`\nbrowser cold start, headless Chromium, ${RUNS} reloads (median, ms from navigation start;` +
      ` load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs):`);
    console.log(`  HTML received          ${col('html').toFixed(1)}`);
    console.log(`  WASM ready             ${col('wasm').toFixed(1)}`);
    console.log(`  SQLite open (IndexedDB)${col('store').toFixed(1)}   (+${(col('store') - col('wasm')).toFixed(1)})`);
    console.log(`  last ${runs[0].messages} messages in store  ${ready.toFixed(1)}   (+${(ready - col('store')).toFixed(1)})`);
    console.log(`  all runs: ${runs.map((r) => r.ready.toFixed(0)).join(', ')}; first load ${first.ready.toFixed(0)}`);
    console.log(`  => ${ready.toFixed(1)} ms (target <= ${TARGET_MS} ms: ${ready <= TARGET_MS ? 'met' : 'NOT met'})`);
  } finally {
    await browser.close();
    await site.close();
    await server.close();
  }

  const s = sizes(dist);
  console.log('\nwidget download for chatwire (gzip -9):');
  for (const r of s.rows) console.log(`  ${r.file.padEnd(34)} ${kb(r.raw).padStart(10)} raw  ${kb(r.gzip).padStart(10)} gzip`);
  console.log(`  => ${kb(s.total)} (target <= ${TARGET_KB} KB: ${s.total <= TARGET_KB * 1024 ? 'met' : 'NOT met'})`);
  console.log('  (the rest of the page, for reference: ' +
    s.others.map((r) => `${r.file} ${kb(r.gzip)}`).join(', ') + ')');
}

await main();
