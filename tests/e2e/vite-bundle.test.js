// A page that imports 'chatwire', bundled by Vite with no config, gets the
// WASM build (the .wasm emitted as an asset, nothing of the addon) and runs
// it in real Chromium.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { launchBrowser, serveStatic } = require('./helpers');

const root = path.resolve(__dirname, '../..');
let dir;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-vite-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'chatwire'));
  fs.writeFileSync(path.join(dir, 'index.html'),
    '<!doctype html><html><body><pre id="out">loading</pre><script type="module" src="./main.js"></script></body></html>');
  fs.writeFileSync(path.join(dir, 'main.js'), `
import { init, codec, sniffImage, backend } from 'chatwire';
init().then(() => {
  const r = codec.decode('{"type":"connect_confirm","conversationId":"c","connectionId":"k","resumed":false,"recovered":true,"heartbeatMs":10000,"timestamp":"2026-11-23T13:47:50.123Z"}', { direction: 'server' });
  const bad = codec.decode('{"type":', { direction: 'client' });
  document.getElementById('out').textContent = JSON.stringify({ backend, ok: r.ok, type: r.frame.type, bad: bad.error.code });
});
`);
  execFileSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'],
    { cwd: dir, stdio: 'pipe' });
}, 60000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the bundle holds the .wasm and none of the addon', () => {
  const assets = fs.readdirSync(path.join(dir, 'dist/assets'));
  expect(assets.some((f) => f.endsWith('.wasm'))).toBe(true);
  const js = assets.filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(dir, 'dist/assets', f), 'utf8')).join('\n');
  expect(js).not.toMatch(/chatwire\.node|node-gyp|build\/Release/);
  expect(js).toMatch(/\.wasm/);
});

test('the bundled page runs the WASM codec in Chromium', async () => {
  const site = await serveStatic(path.join(dir, 'dist'));
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.goto(site.url);
    await page.waitForFunction(() => document.getElementById('out').textContent !== 'loading', null, { timeout: 15000 });
    const out = JSON.parse(await page.textContent('#out'));
    expect(out).toEqual({ backend: 'wasm', ok: true, type: 'connect_confirm', bad: 'bad_json' });
  } finally {
    await browser.close();
    await site.close();
  }
}, 60000);
