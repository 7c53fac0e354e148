// Outages, reloads and restarts with the example widget in real Chromium: the
// example server is stopped and started again on the same port with the same
// SQLite file; the widget shows reconnecting, keeps what was typed while
// offline (also across a reload and a browser restart, from IndexedDB), and
// every message reaches the application's handler exactly once.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { launchBrowser, startExampleServer, serveWidget, artifact, recordRenderedStates } = require('./helpers');

const WAIT = { timeout: 30000 };
// Short reconnect delays keep the suite quick; the widget's default is 5 s, 10 s, 20 s.
const FAST = '&retry=1000,2000,4000';

let tmp;
let database;
let port = 0;
let server = null;
const servers = [];
let site;
let browser;

async function startServer() {
  server = await startExampleServer({ port, database, stepMs: 40 });
  port = server.port;
  servers.push(server);
}

async function stopServer() {
  await server.stop();
  server = null;
}

/** Every handler run of every server process so far, for one message text. */
const handled = (content) => servers.flatMap((s) => s.handled).filter((h) => h.content === content);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-e2e-'));
  database = path.join(tmp, 'chat.db');
  await startServer();
  site = await serveWidget(() => port);
  browser = await launchBrowser();
}, 180000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function openWidget(db, query = FAST, context = browser.context) {
  const page = await context.newPage();
  await page.addInitScript(recordRenderedStates);
  await page.goto(`${site.url}?db=${db}${query}`);
  await page.waitForSelector('[data-testid=user-message], .empty', WAIT);
  return page;
}

const waitOpen = (page) => page.waitForSelector('[data-testid=connection][data-status=open]', WAIT);

async function sendText(page, text) {
  await page.fill('textarea[aria-label=Message]', text);
  await page.keyboard.press('Enter');
  await page.waitForFunction((t) => [...document.querySelectorAll('[data-testid=user-message] .text')]
    .some((e) => e.textContent === t), text, WAIT);
}

const message = (page, text) => page.locator('[data-testid=user-message]', { hasText: text });

/** The conversation as rendered: [{ role, id, status, text, replyTo? }]. */
const rendered = (page) => page.$$eval('[data-testid=user-message], [data-testid=assistant-message]', (els) => els.map((e) => ({
  role: e.dataset.testid === 'user-message' ? 'user' : 'assistant',
  id: e.dataset.id,
  status: e.dataset.status,
  text: (e.querySelector('.text')?.textContent ?? '').replace(/\s+$/, ''),
})));

function expectNoDuplicates(list) {
  expect(new Set(list.map((m) => m.id)).size).toBe(list.length);
}

test('the server goes away: "reconnecting", a queued message, then recovery with nothing lost or duplicated', async () => {
  const page = await openWidget('outage');
  await waitOpen(page);
  await sendText(page, 'before the outage');
  await message(page, 'before the outage').and(page.locator('[data-status=processed]')).waitFor(WAIT);

  await stopServer();
  const badge = page.locator('[data-testid=connection][data-status=reconnecting]');
  await badge.waitFor(WAIT);
  await page.waitForFunction(() => /Reconnecting in \d+ s · attempt 1 of 3/.test(
    document.querySelector('[data-testid=connection]').textContent), null, WAIT);
  await page.screenshot({ path: artifact('20-reconnecting.png') });
  expect(await page.textContent('[data-testid=live]')).toMatch(/reconnecting, attempt \d of 3/);

  await sendText(page, 'sent during the outage');
  await message(page, 'sent during the outage').and(page.locator('[data-status=queued]')).waitFor(WAIT);
  await page.screenshot({ path: artifact('21-queued-offline.png') });

  await startServer();
  await waitOpen(page);
  await message(page, 'sent during the outage').and(page.locator('[data-status=processed]')).waitFor(WAIT);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=assistant-message][data-status=complete]').length === 2,
    null, WAIT);
  await page.screenshot({ path: artifact('22-recovered.png') });

  const list = await rendered(page);
  expectNoDuplicates(list);
  expect(list.map((m) => [m.role, m.status])).toEqual([
    ['user', 'processed'], ['assistant', 'complete'], ['user', 'processed'], ['assistant', 'complete']]);
  expect(list[0].text).toBe('before the outage');
  expect(list[2].text).toBe('sent during the outage');
  expect(list[3].text).toContain('You wrote 4 words.');
  expect(handled('before the outage')).toHaveLength(1);
  expect(handled('sent during the outage')).toHaveLength(1);
  await page.close();
}, 120000);

test('sent while the server is down, the page reloaded, the browser restarted: delivered exactly once when it is back', async () => {
  let page = await openWidget('offline-reload');
  await waitOpen(page);
  await sendText(page, 'hello first');
  await message(page, 'hello first').and(page.locator('[data-status=processed]')).waitFor(WAIT);
  const clientId = await page.evaluate(() => window.chatwireDemo.client.clientId);
  const conversationId = await page.evaluate(() => window.chatwireDemo.client.connection.conversationId);

  await stopServer();
  await page.waitForSelector('[data-testid=connection][data-status=reconnecting]', WAIT);
  await sendText(page, 'queued before the reload');
  await message(page, 'queued before the reload').and(page.locator('[data-status=queued]')).waitFor(WAIT);
  await page.waitForTimeout(300);  // the debounced IndexedDB save (a pagehide also saves)

  await page.reload();
  await message(page, 'queued before the reload').and(page.locator('[data-status=queued]')).waitFor(WAIT);
  await page.screenshot({ path: artifact('24-after-reload-queued.png') });
  expect(await page.evaluate(() => window.chatwireDemo.client.clientId)).toBe(clientId);
  expect((await rendered(page)).map((m) => m.text.slice(0, 24))).toEqual(
    ['hello first', 'You wrote 2 words. This ', 'queued before the reload']);

  // Close the whole browser and open the same profile again: still there.
  await page.waitForTimeout(300);
  const userDataDir = browser.userDataDir;
  await browser.close({ keepProfile: true });
  browser = await launchBrowser({ userDataDir });
  page = await openWidget('offline-reload');
  await message(page, 'queued before the reload').and(page.locator('[data-status=queued]')).waitFor(WAIT);
  expect(await page.evaluate(() => window.chatwireDemo.client.clientId)).toBe(clientId);

  await startServer();
  await waitOpen(page);
  await message(page, 'queued before the reload').and(page.locator('[data-status=processed]')).waitFor(WAIT);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=assistant-message][data-status=complete]').length === 2,
    null, WAIT);
  expect(await page.evaluate(() => window.chatwireDemo.client.connection.conversationId)).toBe(conversationId);
  await page.screenshot({ path: artifact('25-delivered-after-restart.png') });

  const list = await rendered(page);
  expectNoDuplicates(list);
  expect(list.map((m) => [m.role, m.status])).toEqual([
    ['user', 'processed'], ['assistant', 'complete'], ['user', 'processed'], ['assistant', 'complete']]);
  expect(handled('hello first')).toHaveLength(1);
  expect(handled('queued before the reload')).toHaveLength(1);
  // Once more after a reload with the server up: nothing is sent again.
  await page.reload();
  await waitOpen(page);
  await page.waitForTimeout(500);
  expect(await rendered(page)).toEqual(list);
  expect(handled('queued before the reload')).toHaveLength(1);
  await page.close();
}, 150000);

test('after 3 failed attempts the badge says offline, and Reconnect brings it back', async () => {
  const page = await openWidget('failed', '&retry=300,300,300');
  await waitOpen(page);
  await stopServer();
  await page.waitForSelector('[data-testid=connection][data-status=failed]', WAIT);
  const button = page.locator('[data-testid=connection] button', { hasText: 'Reconnect' });
  await button.waitFor(WAIT);
  await page.screenshot({ path: artifact('23-failed.png') });
  expect(await page.textContent('[data-testid=connection]')).toContain('Offline');
  expect(await page.textContent('[data-testid=live]')).toContain('Offline');
  const seen = (await page.evaluate(() => window.__states)).length;  // keeps the recorder honest
  expect(seen).toBeGreaterThan(0);

  await startServer();
  await button.click();
  await waitOpen(page);
  await sendText(page, 'back again');
  await message(page, 'back again').and(page.locator('[data-status=processed]')).waitFor(WAIT);
  expect(handled('back again')).toHaveLength(1);
  await page.close();
}, 120000);
