// Run by scripts/pack-test.sh inside an empty project that installed the packed tarball:
// a page that imports 'chatwire' as a user's page does, bundled by Vite with no config
// (Vite and playwright-core are the repository's devDependencies, found through
// CHATWIRE_REPO_MODULES, never installed into the project), runs the WASM client in
// Debian's Chromium and completes one message turn against a ChatServer of the installed
// package's addon on 127.0.0.1.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChatServer } from 'chatwire';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoModules = process.env.CHATWIRE_REPO_MODULES;
if (!repoModules) throw new Error('pack browser: set CHATWIRE_REPO_MODULES to the repository\'s node_modules');
const repoRequire = createRequire(path.join(repoModules, 'noop.js'));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const deadline = setTimeout(() => {
  console.error('pack browser: no result within 90 s');
  process.exit(1);
}, 90000);

// ------------------------------------------------------------------ the page, bundled by Vite
const site = path.join(here, 'page');
fs.mkdirSync(site, { recursive: true });
fs.writeFileSync(path.join(site, 'index.html'),
  '<!doctype html><html><body><pre id="out">loading</pre><script type="module" src="./main.js"></script></body></html>\n');
fs.writeFileSync(path.join(site, 'main.js'), `
import { ChatClient, backend, init } from 'chatwire';
const out = document.getElementById('out');
const port = new URLSearchParams(location.search).get('port');
(async () => {
  await init();
  const client = await ChatClient.create({ url: \`ws://127.0.0.1:\${port}/ws/chat\`, storage: 'memory' });
  await client.connect();
  const id = await client.send({ content: 'hello from the page' });
  const end = Date.now() + 10000;
  let answer;
  const done = () => client.messages.find((m) => m.id === id)?.status === 'processed' &&
    (answer = client.messages.find((m) => m.role === 'assistant' && m.replyTo === id));
  while (!done()) {
    if (Date.now() > end) throw new Error('no answer within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  out.textContent = JSON.stringify({ backend, status: client.messages.find((m) => m.id === id).status, answer: answer.content });
  await client.close();
})().catch((err) => { out.textContent = JSON.stringify({ error: String(err && err.stack || err) }); });
`);
const started = Date.now();
const vite = spawnSync(process.execPath, [path.join(repoModules, 'vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
  { cwd: site, encoding: 'utf8' });
if (vite.status !== 0) throw new Error(`pack browser: vite build failed:\n${vite.stdout}\n${vite.stderr}`);
const assets = fs.readdirSync(path.join(site, 'dist/assets'));
if (!assets.some((f) => f.endsWith('.wasm'))) throw new Error(`pack browser: the bundle has no .wasm (${assets.join(', ')})`);
const bundled = assets.filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(site, 'dist/assets', f), 'utf8')).join('\n');
if (/chatwire\.node|prebuilds\//.test(bundled)) throw new Error('pack browser: the bundle refers to the Node addon');
console.log(`pack browser: vite bundled the page (${assets.join(', ')}) in ${Date.now() - started} ms`);

// ------------------------------------------------------------------ serve it, a ChatServer, Chromium
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };
const files = http.createServer((req, res) => {
  const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  const file = path.join(site, 'dist', rel === '/' ? 'index.html' : rel);
  if (!file.startsWith(path.join(site, 'dist')) || !fs.existsSync(file)) { res.writeHead(404).end(); return; }
  res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => files.listen(0, '127.0.0.1', r));

const server = new ChatServer({ host: '127.0.0.1', port: 0 });
server.onMessage(async (msg, reply) => {
  reply.delta('re: ');
  await reply.respond({ content: `re: ${msg.content}` });
});
await server.listen();

const { chromium } = repoRequire('playwright-core');
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-pack-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM, headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const turn = Date.now();
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${files.address().port}/?port=${server.port}`);
  await page.waitForFunction(() => document.getElementById('out').textContent !== 'loading', null, { timeout: 20000 });
  const out = JSON.parse(await page.textContent('#out'));
  const want = { backend: 'wasm', status: 'processed', answer: 're: hello from the page' };
  if (JSON.stringify(out) !== JSON.stringify(want)) {
    throw new Error(`pack browser: the page showed ${JSON.stringify(out)}, not ${JSON.stringify(want)}`);
  }
  console.log(`pack browser: Chromium ran the WASM client: one message sent, processed and answered (${Date.now() - turn} ms)`);
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
  await server.close();
  files.close();
}
clearTimeout(deadline);
console.log('pack browser: ok');
