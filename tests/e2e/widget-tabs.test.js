// Several tabs of one browser profile on one storage (issue 18), with the
// example widget in real Chromium: one tab leads (Web Locks) and alone holds
// the socket and writes IndexedDB, the others send through it and mirror it
// (BroadcastChannel). Every tab shows every message and streams every reply;
// the leader's tab is closed (or its renderer crashed) in the middle of a send
// and in the middle of a streamed reply, a follower takes over within a
// second, and in the end a new tab shows every message exactly once with its
// reply, each processed once by the server.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { launchBrowser, startExampleServer, serveWidget, recordRenderedStates } = require('./helpers');

const WAIT = { timeout: 30000 };
const FAST = '&retry=500,1000,2000';

let tmp;
let server;
let site;
let browser;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-e2e-tabs-'));
  // Slow enough steps that a reply streams for about a second.
  server = await startExampleServer({ database: path.join(tmp, 'chat.db'), stepMs: 100 });
  site = await serveWidget(() => server.port);
  browser = await launchBrowser();
}, 180000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const handled = (content) => server.handled.filter((h) => h.content === content);

// Runs in every tab: what a user of the store would have seen, for the test.
function recordTabState() {
  window.__tab = { streamed: {}, deltas: {}, opens: [], warnings: [] };
  const watch = () => {
    const demo = window.chatwireDemo;
    if (!demo) return setTimeout(watch, 5);
    const { client, store } = demo;
    client.on('delta', ({ replyTo }) => { window.__tab.deltas[replyTo] = (window.__tab.deltas[replyTo] ?? 0) + 1; });
    client.on('connection', (c) => window.__tab.opens.push({ status: c.status, at: Date.now(), leader: client.isLeader }));
    store.subscribe((state) => {
      for (const m of state.messages) {
        // The store held a partial reply: text streamed in, not yet complete.
        if (m.role === 'assistant' && m.status === 'streaming' && m.content) window.__tab.streamed[m.replyTo] = m.content.length;
      }
    });
    return undefined;
  };
  watch();
}

async function openTab(db) {
  const page = await browser.context.newPage();
  await page.addInitScript(recordRenderedStates);
  await page.addInitScript(recordTabState);
  await page.goto(`${site.url}?db=${db}${FAST}`);
  await page.waitForSelector('[data-testid=user-message], .empty', WAIT);
  await page.waitForFunction(() => window.chatwireDemo && window.__tab, null, WAIT);
  return page;
}

const waitOpen = (page) => page.waitForSelector('[data-testid=connection][data-status=open]', WAIT);
const isLeader = (page) => page.evaluate(() => window.chatwireDemo.client.isLeader);

async function leaderOf(pages) {
  const roles = await Promise.all(pages.map(isLeader));
  expect(roles.filter(Boolean)).toHaveLength(1);
  return pages[roles.indexOf(true)];
}

async function sendFromUi(page, text) {
  await page.fill('textarea[aria-label=Message]', text);
  await page.keyboard.press('Enter');
}

const userMessage = (page, text) => page.locator('[data-testid=user-message]', { hasText: text });

async function waitProcessed(pages, text) {
  for (const p of pages) await userMessage(p, text).and(p.locator('[data-status=processed]')).waitFor(WAIT);
}

/** The conversation as rendered: [{ role, id, status, text }]. */
const rendered = (page) => page.$$eval('[data-testid=user-message], [data-testid=assistant-message]', (els) => els.map((e) => ({
  role: e.dataset.testid === 'user-message' ? 'user' : 'assistant',
  id: e.dataset.id,
  status: e.dataset.status,
  text: (e.querySelector('.text')?.textContent ?? '').replace(/\s+$/, ''),
})));

const idOf = (page, text) => page.evaluate((t) => window.chatwireDemo.client.messages.find((m) => m.content === t)?.id, text);

// Waits until one of `pages` leads with an open socket; returns it and how
// long after `since` (ms since the epoch) its socket was open.
async function takeover(pages, since) {
  const leader = await Promise.race(pages.map(async (p) => {
    await p.waitForFunction(() => window.chatwireDemo.client.isLeader
      && window.chatwireDemo.client.connection.status === 'open', null, WAIT);
    return p;
  }));
  const openedAt = await leader.evaluate((t) => window.__tab.opens.find((o) => o.leader && o.status === 'open' && o.at >= t)?.at, since);
  return { leader, ms: openedAt - since };
}

async function crash(page) {
  const cdp = await page.context().newCDPSession(page);
  const crashed = page.waitForEvent('crash', { timeout: 10000 });
  cdp.send('Page.crash').catch(() => {});  // never answers: the renderer is gone
  await crashed;
  await page.close().catch(() => {});
}

const close = (page) => page.close();

describe.each([
  ['closed', 'tabs-closed', close],
  ['crashed', 'tabs-crashed', crash],
])('three tabs, the leader %s mid-send and mid-stream', (how, db, endLeader) => {
  test('every tab shows everything live; a follower takes over within a second; nothing lost or doubled', async () => {
    const texts = [`one ${how}`, `two ${how}`, `three ${how}`];
    const midSend = `sent while the leader goes ${how}`;
    const midStream = `streaming while the leader goes ${how}`;
    const tabs = [await openTab(db), await openTab(db), await openTab(db)];
    for (const t of tabs) await waitOpen(t);
    const first = await leaderOf(tabs);
    expect(first).toBe(tabs[0]);  // the first tab took the lock; the others follow
    const clientId = await tabs[0].evaluate(() => window.chatwireDemo.client.clientId);
    for (const t of tabs) expect(await t.evaluate(() => window.chatwireDemo.client.clientId)).toBe(clientId);

    // One message from each tab: all three show it, and its reply streams in all three.
    for (const [i, text] of texts.entries()) {
      await sendFromUi(tabs[i], text);
      await waitProcessed(tabs, text);
      const id = await idOf(tabs[i], text);
      for (const t of tabs) {
        await t.locator('[data-testid=assistant-message][data-status=complete]').nth(i).waitFor(WAIT);
        const seen = await t.evaluate((m) => ({ deltas: window.__tab.deltas[m] ?? 0, streamed: window.__tab.streamed[m] ?? 0 }), id);
        expect(seen.deltas).toBeGreaterThan(3);
        expect(seen.streamed).toBeGreaterThan(0);
      }
    }

    // Same API in a follower: the same typed error as in the leader, nothing stored.
    const refusal = (page) => page.evaluate(() => window.chatwireDemo.client
      .send({ content: 'not an image', images: [new Uint8Array([1, 2, 3])] })
      .then(() => null, (e) => ({ name: e.name, code: e.code, imageId: typeof e.imageId,
        message: e.message.replace(/[0-9a-f-]{36}/, '<id>') })));
    const fromLeader = await refusal(tabs[0]);
    expect(fromLeader).toMatchObject({ name: 'ChatError', code: 'image_invalid' });
    expect(await refusal(tabs[1])).toEqual(fromLeader);
    expect(await tabs[1].evaluate(() => window.chatwireDemo.client.messages.length)).toBe(6);

    // Mid-send: a follower sends and the leader goes away before its
    // IndexedDB write finished (stalled here, as on a busy disk): the message
    // is in the old leader's memory (and maybe on the wire), not in the
    // database the next leader opens; the sender still holds it.
    const [, sender, other] = tabs;
    await first.evaluate(() => { IDBObjectStore.prototype.put = () => { throw new Error('disk busy'); }; });
    await sender.evaluate((t) => { window.__midSend = window.chatwireDemo.client.send({ content: t }); }, midSend);
    await userMessage(first, midSend).waitFor(WAIT);  // the leader stored it
    const t0 = Date.now();
    await endLeader(first);
    const afterSend = await takeover([sender, other], t0);
    expect(afterSend.ms).toBeLessThan(1000);
    expect(await sender.evaluate(() => window.__midSend)).toMatch(/^[0-9a-f-]{36}$/);
    await waitProcessed([sender, other], midSend);

    // A third tab again, then mid-stream: the leader goes away while a reply streams.
    const third = await openTab(db);
    await waitOpen(third);
    const live = [sender, other, third];
    const leader2 = await leaderOf(live);
    const followers = live.filter((p) => p !== leader2);
    await sendFromUi(followers[0], midStream);
    for (const p of live) {
      await p.waitForFunction((t) => {
        const m = window.chatwireDemo.client.messages;
        const q = m.find((x) => x.content === t);
        return q && window.__tab.streamed[q.id] > 0;
      }, midStream, WAIT);
    }
    const t1 = Date.now();
    await endLeader(leader2);
    const afterStream = await takeover(followers, t1);
    expect(afterStream.ms).toBeLessThan(1000);
    await waitProcessed(followers, midStream);
    for (const p of followers) {
      await p.waitForFunction(() => document.querySelectorAll('[data-testid=assistant-message][data-status=complete]').length === 5,
        null, WAIT);
    }
    console.log(`tabs (${how}): takeover mid-send ${afterSend.ms} ms, mid-stream ${afterStream.ms} ms`);

    // Everything closed, one new tab: every message once, each with its reply.
    for (const p of followers) await p.close();
    const fresh = await openTab(db);
    await waitOpen(fresh);
    await fresh.waitForTimeout(500);  // anything replayed or resent would show by now
    const list = await rendered(fresh);
    expect(new Set(list.map((m) => m.id)).size).toBe(list.length);
    const all = [...texts, midSend, midStream];
    expect(list.filter((m) => m.role === 'user').map((m) => m.text)).toEqual(all);
    expect(list.map((m) => [m.role, m.status])).toEqual(all.flatMap(() => [['user', 'processed'], ['assistant', 'complete']]));
    for (const [i, m] of list.entries()) {
      if (m.role === 'assistant') expect(m.text).toMatch(/^You wrote \d+ words?\./);
      else expect(list[i + 1].role).toBe('assistant');
    }
    for (const text of all) expect(handled(text)).toHaveLength(1);
    await fresh.close();
  }, 180000);
});

test('without Web Locks and BroadcastChannel: said once, one tab works, a second tab is refused with a clear error', async () => {
  const context = browser.context;
  const strip = () => {
    Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
    delete globalThis.BroadcastChannel;
  };
  const open = async () => {
    const page = await context.newPage();
    const warnings = [];
    page.on('console', (m) => { if (m.type() === 'warning' && m.text().startsWith('chatwire:')) warnings.push(m.text()); });
    await page.addInitScript(strip);
    await page.goto(`${site.url}?db=no-tabs${FAST}`);
    await page.waitForSelector('[data-testid=user-message], .empty, .boot-error', WAIT);
    return { page, warnings };
  };
  const a = await open();
  await waitOpen(a.page);
  await sendFromUi(a.page, 'alone in the browser');
  await userMessage(a.page, 'alone in the browser').and(a.page.locator('[data-status=processed]')).waitFor(WAIT);
  expect(a.warnings).toEqual([
    "chatwire: this browser has no Web Locks and BroadcastChannel; storage 'indexeddb:no-tabs' works in one tab at a time (another tab opening it is refused)"]);

  const b = await open();
  expect(await b.page.textContent('.boot-error')).toContain(
    "options.storage 'indexeddb:no-tabs' is open in another tab of this browser, and this browser cannot share it between tabs");
  await b.page.close();

  await a.page.close();  // pagehide gives the storage up
  const c = await open();
  await waitOpen(c.page);
  await userMessage(c.page, 'alone in the browser').and(c.page.locator('[data-status=processed]')).waitFor(WAIT);
  expect(handled('alone in the browser')).toHaveLength(1);
  await c.page.close();
}, 120000);
