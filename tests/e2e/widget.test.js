// The example widget (examples/browser-widget, React + chatwire's WASM build)
// in real Chromium against the real example server: delivery ticks, streaming,
// images, refusals, tools, forms, citations, keyboard and paging.
// Screenshots of each state go to test-artifacts/.
const path = require('node:path');
const {
  launchBrowser, startExampleServer, serveWidget, artifact, recordRenderedStates, ROOT,
} = require('./helpers');

const IMAGES = path.join(ROOT, 'tests/fixtures/images');
const WAIT = { timeout: 30000 };

let server;
let site;
let browser;

beforeAll(async () => {
  server = await startExampleServer({ stepMs: 40 });
  site = await serveWidget(() => server.port);
  browser = await launchBrowser();
}, 180000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await server?.stop();
});

/** A new page on its own IndexedDB database: a new clientId, so a new conversation. */
async function openWidget(db, { query = '', beforeGoto } = {}) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.errors = errors;
  await page.addInitScript(recordRenderedStates);
  if (beforeGoto) await beforeGoto(page);
  await page.goto(`${site.url}?db=${db}${query}`);
  await page.waitForSelector('[data-testid=connection][data-status=open]', WAIT);
  return page;
}

const userMessages = (page) => page.$$eval('[data-testid=user-message]', (els) => els.map((e) => ({
  id: e.dataset.id, status: e.dataset.status, text: e.querySelector('.text')?.textContent ?? '' })));
const states = (page, kind) => page.evaluate((k) => window.__states.filter((s) => s.kind === k), kind);
const handledFor = (content) => server.handled.filter((h) => h.content === content);

async function send(page, text) {
  await page.fill('textarea[aria-label=Message]', text);
  await page.keyboard.press('Enter');
}

/** The last user message's id once it is rendered. */
async function lastUserId(page) {
  await page.waitForSelector('[data-testid=user-message]', WAIT);
  const list = await userMessages(page);
  return list[list.length - 1].id;
}

const replyOf = (page, userId) => page.locator(
  `[data-testid=user-message][data-id="${userId}"] + [data-testid=assistant-message]`);

test('the status bar names the transport in use while online (WebSocket here)', async () => {
  const page = await openWidget('transport');
  const label = page.locator('[data-testid=connection] [data-testid=transport]');
  await label.waitFor(WAIT);
  expect(await label.getAttribute('data-transport')).toBe('websocket');
  expect(await label.textContent()).toBe('WebSocket');
  expect(page.errors).toEqual([]);
  await page.close();
});

test('text: ✓ sent -> ✓✓ received -> blue ✓✓ processed, with thinking, typing and the reply streaming in', async () => {
  // A slow network (server frames 400 ms late, in order, at most one per 100 ms)
  // makes each state last long enough to see and to photograph.
  const page = await openWidget('ticks', {
    beforeGoto: (p) => p.routeWebSocket(/\/ws\/chat/, (ws) => {
      const upstream = ws.connectToServer();
      let due = 0;
      upstream.onMessage((m) => {
        due = Math.max(due + 100, Date.now() + 400);
        setTimeout(() => ws.send(m), due - Date.now());
      });
    }),
  });
  await page.screenshot({ path: artifact('01-empty.png') });

  await send(page, 'Hello there, how are you?');
  const id = await lastUserId(page);
  const msg = `[data-testid=user-message][data-id="${id}"]`;
  await page.waitForSelector(`${msg}[data-status=sent] [data-glyph="✓"]`, WAIT);
  await page.screenshot({ path: artifact('02-sent.png') });
  await page.waitForSelector(`${msg}[data-status=received] [data-glyph="✓✓"]`, WAIT);
  await page.screenshot({ path: artifact('03-received.png') });
  // Steps listed while there is no text yet; photographed if still on screen
  // (the page's own record below proves it was shown either way).
  if (await page.$('.thinking-active')) await page.screenshot({ path: artifact('03b-thinking.png') });
  await page.waitForSelector('[data-testid=assistant-message][data-status=streaming] [data-testid=reply]', WAIT);
  await page.screenshot({ path: artifact('04-streaming.png') });
  await page.waitForSelector(`${msg}[data-status=processed]`, WAIT);
  await page.waitForSelector('[data-testid=assistant-message][data-status=complete]', WAIT);
  await page.screenshot({ path: artifact('05-processed.png') });

  // The order the UI showed, from the page's own record of rendered states.
  const seen = (await states(page, 'user')).filter((s) => s.id === id).map((s) => s.value);
  expect(seen).toEqual(['sent', 'received', 'processed']);
  const color = await page.$eval(`${msg} [data-testid=ticks]`, (e) => getComputedStyle(e).color);
  expect(color).toBe('rgb(26, 140, 255)');  // blue ✓✓
  const grey = await page.$eval(`${msg} .meta`, (e) => getComputedStyle(e).color);
  expect(grey).not.toBe(color);

  const replies = (await states(page, 'assistant')).map((s) => s);
  const streamed = replies.filter((s) => s.value === 'streaming' && s.text.length > 0);
  expect(streamed.length).toBeGreaterThan(0);  // partial text was on screen before the end
  expect((await states(page, 'typing')).map((s) => s.value)).toContain('true');
  const thinking = await states(page, 'thinking');
  expect(thinking.filter((s) => s.value === 'active' && s.steps > 0).length).toBeGreaterThan(0);
  const reply = await replyOf(page, id).textContent();
  expect(reply).toContain('You wrote 5 words.');
  expect(await replyOf(page, id).locator('[data-testid=thinking]').textContent()).toMatch(/Thought in \d+ steps?/);
  expect(handledFor('Hello there, how are you?')).toHaveLength(1);
  // The live region announced the reply.
  expect(await page.textContent('[data-testid=live]')).toContain('The assistant replied.');
  expect(page.errors).toEqual([]);
  await page.close();
}, 90000);

test('Stop cancels the reply while it streams', async () => {
  // A slow example server (a delta every 100 ms) so the stream is still running on the server.
  const slow = await startExampleServer({ stepMs: 400 });
  const page = await openWidget('stop', { query: `&ws=ws://127.0.0.1:${slow.port}/ws/chat` });
  await send(page, 'Tell me a long story please');
  const id = await lastUserId(page);
  const reply = replyOf(page, id);
  await reply.locator('[data-testid=reply]').waitFor(WAIT);
  await reply.locator('button', { hasText: 'Stop' }).click();
  await page.waitForSelector('[data-testid=assistant-message][data-status=cancelled]', WAIT);
  await page.screenshot({ path: artifact('14-stopped.png') });
  expect(await reply.locator('.ending').textContent()).toBe('Stopped');
  const text = await reply.locator('[data-testid=reply]').textContent();
  expect(text.length).toBeGreaterThan(0);
  expect(text).not.toContain('with your model.');  // the end was never streamed
  expect(slow.handled).toHaveLength(1);
  await page.close();
  await slow.stop();
}, 60000);

test('a message the server refuses shows the reason and Retry sends it again with the same id', async () => {
  // The first attempt of this message is answered with an error naming it (as a
  // server would for a message it could not accept); the retry goes through.
  let refused = 0;
  const page = await openWidget('retry', {
    beforeGoto: (p) => p.routeWebSocket(/\/ws\/chat/, (ws) => {
      const upstream = ws.connectToServer();
      ws.onMessage((m) => {
        const f = JSON.parse(m);
        if (f.type === 'message' && f.content === 'please fail once' && !refused++) {
          ws.send(JSON.stringify({ type: 'error', code: 'internal', error: 'the assistant is overloaded, try again',
            messageId: f.messageId, timestamp: new Date().toISOString() }));
          return;
        }
        upstream.send(m);
      });
    }),
  });
  await send(page, 'please fail once');
  const id = await lastUserId(page);
  const msg = page.locator(`[data-testid=user-message][data-id="${id}"]`);
  await page.waitForSelector(`[data-testid=user-message][data-id="${id}"][data-status=failed]`, WAIT);
  await page.screenshot({ path: artifact('15-failed-retry.png') });
  expect(await msg.locator('[data-testid=failure]').textContent()).toContain('the assistant is overloaded, try again');
  expect(handledFor('please fail once')).toHaveLength(0);
  await msg.locator('button', { hasText: 'Retry' }).click();
  await page.waitForSelector(`[data-testid=user-message][data-id="${id}"][data-status=processed]`, WAIT);
  expect(await msg.locator('[data-testid=failure]').count()).toBe(0);
  expect(handledFor('please fail once').map((h) => h.messageId)).toEqual([id]);
  await page.close();
}, 60000);

test('keyboard: Shift+Enter is a new line, Enter sends', async () => {
  const page = await openWidget('keyboard');
  await page.click('textarea[aria-label=Message]');
  await page.keyboard.type('line one');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('line two');
  expect(await page.$$('[data-testid=user-message]')).toHaveLength(0);
  await page.keyboard.press('Enter');
  const id = await lastUserId(page);
  await page.waitForSelector(`[data-testid=user-message][data-id="${id}"][data-status=processed]`, WAIT);
  const [m] = await userMessages(page);
  expect(m.text).toBe('line one\nline two');
  expect(await page.inputValue('textarea[aria-label=Message]')).toBe('');
  await page.close();
}, 60000);

test('images: a PNG and a JPEG get thumbnails, per-image status and an analysis card each', async () => {
  const page = await openWidget('images');
  await page.setInputFiles('[data-testid=file-input]', [
    path.join(IMAGES, 'png_palette_300x2.png'), path.join(IMAGES, 'jpeg_progressive_40x30.jpg')]);
  await page.waitForSelector('[data-testid=attachment] >> nth=1', WAIT);
  expect(await page.$$eval('[data-testid=attachment] .att-meta', (els) => els.map((e) => e.textContent.split(' ·')[0])))
    .toEqual(['300×2', '40×30']);
  await page.fill('textarea[aria-label=Message]', 'What is in these images?');
  await page.screenshot({ path: artifact('06-images-attached.png') });
  await page.keyboard.press('Enter');
  const id = await lastUserId(page);
  await page.waitForSelector(`[data-testid=user-message][data-id="${id}"][data-status=processed]`, WAIT);
  await page.waitForSelector('[data-testid=analysis] >> nth=1', WAIT);
  await page.screenshot({ path: artifact('07-images-analyzed.png') });
  await page.locator(`[data-testid=user-message][data-id="${id}"]`).scrollIntoViewIfNeeded();
  await page.screenshot({ path: artifact('07b-images-status.png') });

  const thumbs = page.locator(`[data-testid=user-message][data-id="${id}"] [data-testid=message-image]`);
  expect(await thumbs.count()).toBe(2);
  for (let i = 0; i < 2; i++) {
    expect(await thumbs.nth(i).getAttribute('data-image-status')).toBe('analyzed');
    expect(await thumbs.nth(i).locator('img').evaluate((img) => img.complete && img.naturalWidth > 0)).toBe(true);
    const order = (await states(page, 'image')).filter((s) => s.id === id && s.index === i).map((s) => s.value);
    expect(['processing', 'analyzed'].every((s) => order.includes(s))).toBe(true);
    expect(order.indexOf('processing')).toBeLessThan(order.indexOf('analyzed'));
  }
  const cards = await page.$$eval('[data-testid=analysis]', (els) => els.map((e) => e.textContent));
  expect(cards[0]).toContain('png_palette_300x2.png');
  expect(cards[0]).toContain('300×2');
  expect(cards[1]).toContain('jpeg_progressive_40x30.jpg');
  expect(cards[1]).toContain('40×30');
  expect(handledFor('What is in these images?')[0].images).toBe(2);
  await page.close();
}, 60000);

test('a bad file is refused at selection with the reason, and nothing is sent', async () => {
  const page = await openWidget('bad-file');
  const before = server.handled.length;
  await page.setInputFiles('[data-testid=file-input]', [
    path.join(IMAGES, 'truncated_png_20_bytes.png'), path.join(IMAGES, 'svg_as_png.png'),
    path.join(IMAGES, 'png_rgb_4x3.png')]);
  await page.waitForSelector('[data-testid=rejected]', WAIT);
  await page.waitForSelector('[data-testid=attachment]', WAIT);
  await page.screenshot({ path: artifact('08-bad-file.png') });
  const refused = await page.$$eval('[data-testid=rejected] li:not(.rejected-close)', (els) => els.map((e) => e.textContent));
  expect(refused).toHaveLength(2);
  expect(refused[0]).toMatch(/^truncated_png_20_bytes\.png was not attached: .*\S/);
  expect(refused[1]).toMatch(/^svg_as_png\.png was not attached: .*\S/);
  expect(await page.$$('[data-testid=attachment]')).toHaveLength(1);  // the good one stays
  expect(await page.textContent('[data-testid=live]')).toContain('was not attached');
  await page.click('[data-testid=attachment] .att-remove');
  expect(await page.$$('[data-testid=user-message]')).toHaveLength(0);
  expect(server.handled.length).toBe(before);
  await page.close();
}, 60000);

test('tools: the assistant calls getLocalTime and getLocation on the client and uses the results', async () => {
  const page = await openWidget('tools');
  await send(page, 'What time is it and where am I?');
  const id = await lastUserId(page);
  await page.waitForSelector(`[data-testid=user-message][data-id="${id}"][data-status=processed]`, WAIT);
  const reply = replyOf(page, id);
  await reply.locator('[data-testid=tool-call][data-tool=getLocation][data-status=done]').waitFor(WAIT);
  await page.screenshot({ path: artifact('09-tools.png') });
  expect(await reply.locator('[data-testid=tool-call][data-tool=getLocalTime]').getAttribute('data-status')).toBe('done');
  const text = await reply.locator('[data-testid=reply]').textContent();
  expect(text).toContain('getLocation answered');
  expect(text).toContain('Berlin');
  expect(text).toMatch(/getLocalTime answered .*timeZone/);
  await page.close();
}, 60000);

test('a form component is filled in and submitted once; the next reply confirms it; it stays submitted after a reload', async () => {
  const page = await openWidget('form');
  await send(page, 'Set a reminder for me');
  const id = await lastUserId(page);
  const form = replyOf(page, id).locator('[data-testid=component-form]');
  await form.waitFor(WAIT);
  expect(await form.locator('h3').textContent()).toBe('Set a reminder');
  await form.locator('input[name=time]').fill('07:30');
  await form.locator('input[name=note]').fill('stretch');
  await page.screenshot({ path: artifact('10-form.png') });
  await form.locator('button[type=submit]').click();
  await form.locator('[data-testid=form-done]').waitFor(WAIT);
  const deadline = Date.now() + 10000;
  while (!server.actions.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(server.actions).toHaveLength(1);
  expect(server.actions[0]).toMatchObject({ action: 'submit', values: { time: '07:30', note: 'stretch' } });

  await send(page, 'thanks');
  const next = await lastUserId(page);
  await page.waitForSelector(`[data-testid=user-message][data-id="${next}"][data-status=processed]`, WAIT);
  expect(await replyOf(page, next).locator('[data-testid=reply]').textContent())
    .toContain('Your form was received (submit with time: 07:30, note: stretch).');
  await page.screenshot({ path: artifact('11-form-submitted.png') });

  await page.reload();
  await page.waitForSelector('[data-testid=connection][data-status=open]', WAIT);
  const again = replyOf(page, id).locator('[data-testid=component-form]');
  await again.locator('[data-testid=form-done]').waitFor(WAIT);
  expect(await again.locator('input[name=time]').inputValue()).toBe('07:30');
  expect(server.actions).toHaveLength(1);
  await page.close();
}, 60000);

test('citations are listed under the reply', async () => {
  const page = await openWidget('citations');
  await send(page, 'What do the docs say about reconnecting?');
  const id = await lastUserId(page);
  await page.waitForSelector(`[data-testid=user-message][data-id="${id}"][data-status=processed]`, WAIT);
  const cites = replyOf(page, id).locator('[data-testid=citation]');
  await cites.first().waitFor(WAIT);
  await page.screenshot({ path: artifact('12-citations.png') });
  const list = await cites.allTextContents();
  expect(list).toHaveLength(2);
  expect(list[0]).toContain('EXAMPLE (fake) - chatwire protocol notes.pdf');
  expect(list[0]).toMatch(/pp\. 3–4/);
  expect(list[0]).toMatch(/\d+%$/);
  await page.close();
}, 60000);

test('load older: after a reload the last 50 messages show; older pages load on demand', async () => {
  const page = await openWidget('paging');
  // 30 turns (60 messages) through the client the widget uses.
  await page.evaluate(async () => {
    const { client } = window.chatwireDemo;
    for (let i = 0; i < 30; i++) await client.send({ content: `message ${i}` });
  });
  await page.waitForFunction(() => {
    const ms = window.chatwireDemo.client.messages;
    return ms.length === 60 && ms.every((m) => m.status === 'processed' || m.status === 'complete');
  }, null, { timeout: 90000 });
  const all = await page.evaluate(() => window.chatwireDemo.client.messages.map((m) => m.id));
  await page.waitForTimeout(300);  // let the debounced IndexedDB save run
  await page.reload();
  await page.waitForSelector('[data-testid=connection][data-status=open]', WAIT);
  const shown = () => page.$$eval('[data-testid=user-message], [data-testid=assistant-message]',
    (els) => els.map((e) => e.dataset.id));
  expect(await shown()).toEqual(all.slice(10));
  await page.$eval('.log', (el) => { el.scrollTop = 0; });
  await page.screenshot({ path: artifact('13-load-older.png') });
  await page.click('[data-testid=load-older]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=user-message]').length === 30, null, WAIT);
  expect(await shown()).toEqual(all);
  // Nothing older anywhere: the server says so and the button goes away.
  await page.click('[data-testid=load-older]');
  await page.waitForSelector('[data-testid=load-older]', { state: 'detached', timeout: 30000 });
  expect(await shown()).toEqual(all);
  await page.close();
}, 150000);
