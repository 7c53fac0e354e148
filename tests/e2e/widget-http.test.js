// The example widget in real Chromium behind a proxy that refuses every
// WebSocket upgrade (tests/js/noupgrade-proxy.js, a small Node reverse proxy:
// 403 to `Upgrade: websocket`, everything else forwarded and streamed), issue
// 21: the widget falls back to the HTTP transport by itself and says so in the
// status bar, sends text and an image, streams the reply; the connection is
// cut mid-reply and the page reloaded: the message is processed once, its
// reply arrives once and whole, and the proxy's counters show it all went
// over HTTP (no WebSocket ever got through).
const path = require('node:path');
const { launchBrowser, startExampleServer, serveWidget, artifact, recordRenderedStates, ROOT } = require('./helpers');
const { startNoUpgradeProxy } = require('../js/noupgrade-proxy');

const IMAGES = path.join(ROOT, 'tests/fixtures/images');
const WAIT = { timeout: 30000 };
const FAST = '&retry=500,1000,2000';

let server;
let proxy;
let site;
let browser;

beforeAll(async () => {
  server = await startExampleServer({ stepMs: 80 });
  proxy = await startNoUpgradeProxy(server.port);
  site = await serveWidget(() => proxy.port);  // the widget only knows the proxy
  browser = await launchBrowser();
}, 180000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await proxy?.close();
  await server?.stop();
});

const handled = (content) => server.handled.filter((h) => h.content === content);

/** The conversation as rendered: [{ role, id, status, text }]. */
const rendered = (page) => page.$$eval('[data-testid=user-message], [data-testid=assistant-message]', (els) => els.map((e) => ({
  role: e.dataset.testid === 'user-message' ? 'user' : 'assistant',
  id: e.dataset.id,
  status: e.dataset.status,
  text: (e.querySelector('.text')?.textContent ?? '').replace(/\s+$/, ''),
})));

async function waitOpenOverHttp(page) {
  const label = page.locator('[data-testid=connection][data-status=open] [data-testid=transport]');
  await label.waitFor(WAIT);
  expect(await label.getAttribute('data-transport')).toBe('http');
  expect(await label.textContent()).toBe('HTTP');
}

test('behind a proxy that refuses WebSockets: HTTP in the status bar, text and an image, a cut mid-reply and a reload lose and duplicate nothing', async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(recordRenderedStates);
  await page.goto(`${site.url}?db=http-fallback${FAST}`);
  await waitOpenOverHttp(page);
  expect(proxy.counts.upgradesRefused).toBeGreaterThan(0);  // it did try the WebSocket first
  expect(await page.evaluate(() => window.chatwireDemo.client.connection.attempt)).toBe(0);  // the switch is not a retry
  await page.screenshot({ path: artifact('40-http-fallback-open.png') });

  // 1. Text, with its reply streamed over the SSE stream.
  await page.fill('textarea[aria-label=Message]', 'hello over http');
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=user-message][data-status=processed]', { hasText: 'hello over http' }).waitFor(WAIT);
  await page.waitForSelector('[data-testid=assistant-message][data-status=complete]', WAIT);
  const streamed = (await page.evaluate(() => window.__states))
    .filter((s) => s.kind === 'assistant').map((s) => s.value);
  expect(streamed).toContain('streaming');

  // 2. Text and an image; the connection is cut while the reply streams, and the page reloads at once.
  const content = 'what is in this image';
  await page.setInputFiles('[data-testid=file-input]', [path.join(IMAGES, 'png_palette_300x2.png')]);
  await page.waitForSelector('[data-testid=attachment]', WAIT);
  await page.fill('textarea[aria-label=Message]', content);
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=assistant-message][data-status=streaming]', WAIT);
  const partial = await page.locator('[data-testid=assistant-message][data-status=streaming] .text').textContent();
  proxy.cutAll();
  await page.screenshot({ path: artifact('41-http-fallback-cut-mid-reply.png') });
  await page.reload();

  await waitOpenOverHttp(page);
  const user = page.locator('[data-testid=user-message]', { hasText: content });
  await user.and(page.locator('[data-status=processed]')).waitFor(WAIT);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=assistant-message][data-status=complete]').length === 2,
    null, WAIT);
  await page.waitForSelector('[data-testid=analysis]', WAIT);
  await page.screenshot({ path: artifact('42-http-fallback-after-reload.png') });

  const list = await rendered(page);
  expect(new Set(list.map((m) => m.id)).size).toBe(list.length);
  expect(list.map((m) => [m.role, m.status])).toEqual([
    ['user', 'processed'], ['assistant', 'complete'], ['user', 'processed'], ['assistant', 'complete']]);
  expect(list[2].text).toBe(content);
  expect(list[3].text).toMatch(/^You wrote 5 words\. Image 1: .* with your model\.$/);
  expect(list[3].text.length).toBeGreaterThan(partial.length);  // the cut came before the end of the reply
  expect(await user.locator('[data-testid=message-image]').getAttribute('data-image-status')).toBe('analyzed');
  expect(await page.textContent('[data-testid=analysis]')).toContain('300×2');
  // The application saw each message once, the image with it.
  expect(handled('hello over http')).toHaveLength(1);
  expect(handled(content)).toHaveLength(1);
  expect(handled(content)[0].images).toBe(1);

  // Once more after a reload with nothing cut: the same conversation, nothing sent again.
  await page.reload();
  await waitOpenOverHttp(page);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=assistant-message][data-status=complete]').length === n,
    2, WAIT);
  await page.waitForTimeout(500);
  expect(await rendered(page)).toEqual(list);
  expect(handled(content)).toHaveLength(1);

  // It all went over HTTP: every upgrade was refused, streams and POSTs went through.
  expect(proxy.counts.streams).toBeGreaterThanOrEqual(3);
  expect(proxy.counts.posts).toBeGreaterThanOrEqual(3);
  expect(proxy.counts.upgradesRefused).toBeGreaterThanOrEqual(3);
  expect(errors).toEqual([]);
  await page.close();
}, 120000);
