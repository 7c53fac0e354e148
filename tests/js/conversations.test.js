// Conversations over the wire (issue 17, PROTOCOL.md "Version 1.1" →
// Conversations, Message metadata and context, Branches), against the real
// server with the `ws` package as the client.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { ChatServer } = require('chatwire');
const { WsProbe } = require('./wsclient');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-conversations-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let server;
const seen = [];
beforeAll(async () => {
  server = new ChatServer({ port: 0 });
  server.onMessage(async (msg, reply) => {
    seen.push(msg);
    await reply.respond({ content: `echo: ${msg.content}` });
  });
  await server.listen();
});
afterAll(() => server.close());

const url = () => `ws://127.0.0.1:${server.port}/ws/chat`;
const probes = [];
afterEach(() => Promise.all(probes.splice(0).map((p) => p.close())));

// A connected probe; `clientId` shares an owner between probes (two tabs).
async function tab(clientId) {
  const p = new WsProbe(url());
  if (clientId) p.clientId = clientId;
  probes.push(p);
  p.confirm = await p.connect();
  return p;
}

const answered = (p, messageId) => p.waitFor((f) => f.type === 'response' && f.replyTo === messageId);
const typed = (p, type, after = 0) => p.waitFor((f) => f.type === type && p.frames.indexOf(f) >= after);

test('a reply in one conversation reaches every connection of its owner, naming the conversation', async () => {
  const a = await tab();
  const b = await tab(a.clientId);
  const stranger = await tab();
  const id = b.message('hello from tab b');
  const [onA, onB] = await Promise.all([answered(a, id), answered(b, id)]);
  expect(onA).toEqual(onB);
  expect(onA.conversationId).toBe(b.confirm.conversationId);
  expect(a.frames.find((f) => f.type === 'confirm' && f.messageId === id).conversationId).toBe(b.confirm.conversationId);
  await new Promise((r) => setTimeout(r, 50));
  expect(stranger.frames.filter((f) => f.type !== 'connect_confirm')).toEqual([]);
});

test('a message naming a new conversationId creates it; list, rename and delete it', async () => {
  const a = await tab();
  const other = await tab(a.clientId);
  const conversationId = crypto.randomUUID();
  const id = a.message('plan a trip', { conversationId, metadata: { app: 'UD21' } });
  const reply = await answered(a, id);
  expect(reply.conversationId).toBe(conversationId);
  const handled = seen.find((m) => m.messageId === id);
  expect(handled.conversationId).toBe(conversationId);

  a.send({ type: 'list_conversations' });
  const list = await typed(a, 'conversations');
  expect(list.items.map((i) => i.conversationId)).toEqual([conversationId]);  // the connect's own one holds nothing
  expect(list.items[0]).toMatchObject({ archived: false, metadata: {}, lastMessage: { role: 'assistant', content: 'echo: plan a trip' } });
  expect(list.hasMore).toBe(false);

  a.send({ type: 'update_conversation', conversationId, title: 'Trip to Rome', metadata: { pinned: true } });
  const [upA, upOther] = await Promise.all([typed(a, 'conversation'), typed(other, 'conversation')]);
  expect(upA).toEqual(upOther);
  expect(upA).toMatchObject({ conversationId, title: 'Trip to Rome', archived: false, metadata: { pinned: true } });
  expect(upA.seq).toBeGreaterThan(reply.seq);

  a.send({ type: 'load_messages', conversationId });
  const history = await typed(a, 'history');
  expect(history.messages.map((m) => [m.role, m.parentId])).toEqual([['user', null], ['assistant', id]]);
  expect(history.messages[0].metadata).toEqual({ app: 'UD21' });
  expect(history.messages[1].version).toBe(1);

  a.send({ type: 'delete_conversation', conversationId });
  const [delA, delOther] = await Promise.all([typed(a, 'conversation_deleted'), typed(other, 'conversation_deleted')]);
  expect(delA).toEqual(delOther);
  expect(delA.conversationId).toBe(conversationId);
  const before = a.frames.length;
  a.send({ type: 'load_messages', conversationId });
  expect((await typed(a, 'error', before)).code).toBe('not_found');
});

test("another owner's conversation is not_found, naming the message, and reveals nothing", async () => {
  const owner = await tab();
  const id = owner.message('mine');
  await answered(owner, id);
  const intruder = await tab();
  const conversationId = owner.confirm.conversationId;
  const m = intruder.message('let me in', { conversationId });
  const e = await typed(intruder, 'error');
  expect(e).toMatchObject({ code: 'not_found', messageId: m, error: `unknown conversationId '${conversationId}'` });
  for (const frame of [{ type: 'update_conversation', conversationId, title: 'x' }, { type: 'delete_conversation', conversationId }]) {
    const before = intruder.frames.length;
    intruder.send(frame);
    expect((await typed(intruder, 'error', before)).code).toBe('not_found');
  }
  intruder.send({ type: 'ping', clientId: intruder.clientId, timestamp: new Date().toISOString() });
  await typed(intruder, 'pong');
  expect(seen.some((s) => s.messageId === m)).toBe(false);
});

test('bad input gets its documented code and the connection stays usable', async () => {
  const a = await tab();
  const id = a.message('hi');
  await answered(a, id);
  const conversationId = a.confirm.conversationId;
  const cases = [
    [{ type: 'list_conversations', limit: 0 }, 'invalid_field'],
    [{ type: 'list_conversations', limit: 101 }, 'invalid_field'],
    [{ type: 'list_conversations', before: 'not a cursor' }, 'invalid_field'],
    [{ type: 'update_conversation', conversationId, title: 'x'.repeat(201) }, 'too_large'],
    [{ type: 'update_conversation', conversationId, metadata: { v: 'x'.repeat(4100) } }, 'too_large'],
    [{ type: 'update_conversation', conversationId, metadata: 'text' }, 'invalid_field'],
  ];
  for (const [frame, code] of cases) {
    const before = a.frames.length;
    a.send(frame);
    expect([JSON.stringify(frame).slice(0, 60), (await typed(a, 'error', before)).code]).toEqual([JSON.stringify(frame).slice(0, 60), code]);
  }
  const before = a.frames.length;
  const bad = a.message('follows nothing here', { parentId: crypto.randomUUID() });
  expect(await typed(a, 'error', before)).toMatchObject({ code: 'invalid_field', messageId: bad });
  const ok = a.message('still fine');
  await answered(a, ok);
});

test('a server database written by version-1 code opens and lists, resumes and replays its conversations', async () => {
  const file = path.join(tmp, 'v1-server.sqlite');
  fs.copyFileSync(path.join(__dirname, '../fixtures/v1-server.sqlite'), file);
  const old = new ChatServer({ port: 0, database: file });
  old.onMessage(async (msg, reply) => reply.respond({ content: 'new' }));
  await old.listen();
  try {
    const p = new WsProbe(`ws://127.0.0.1:${old.port}/ws/chat`);
    p.clientId = '6e36c938-afcf-44db-bb88-e1de528d9382';  // bob, in the fixture
    probes.push(p);
    const cc = await p.connect({ conversationId: 'd84c62f2-3d9b-4a48-ad14-ee7e02f5b29b', lastSeq: 0 });
    expect(cc).toMatchObject({ resumed: true, recovered: true });
    await p.waitFor((f) => f.type === 'response' && f.content === 'echo: bob here');
    p.send({ type: 'list_conversations' });
    const list = await p.waitFor('conversations');
    expect(list.items.map((i) => [i.conversationId, i.lastMessage.content]))
      .toEqual([['d84c62f2-3d9b-4a48-ad14-ee7e02f5b29b', 'echo: bob here']]);
    const id = p.message('a new message after the migration');
    const reply = await p.waitFor((f) => f.type === 'response' && f.replyTo === id);
    expect(reply.seq).toBeGreaterThan(3);
    p.send({ type: 'load_messages', conversationId: cc.conversationId });
    const h = await p.waitFor('history');
    expect(h.messages.map((m) => m.content)).toEqual(['bob here', 'echo: bob here', 'a new message after the migration', 'new']);
    expect(h.messages[2].parentId).toBe(h.messages[1].messageId);  // follows the migrated branch
  } finally {
    await Promise.all(probes.splice(0).map((x) => x.close()));
    await old.close();
  }
});

test('connect resumes several conversations: connect_confirm.conversations in order, then each replay', async () => {
  const a = await tab();
  const first = a.confirm.conversationId;
  const m1 = a.message('in the first');
  await answered(a, m1);
  const second = crypto.randomUUID();
  const m2 = a.message('in the second', { conversationId: second });
  const r2 = await answered(a, m2);
  const stranger = await tab();
  const s1 = stranger.message('not yours');
  await answered(stranger, s1);

  const again = new WsProbe(url());
  again.clientId = a.clientId;
  probes.push(again);
  const cc = await again.connect({ conversationId: first, lastSeq: 0, conversations: [
    { conversationId: second, lastSeq: 0 }, { conversationId: stranger.confirm.conversationId, lastSeq: 0 }] });
  expect(cc.conversations).toEqual([
    { conversationId: second, resumed: true, recovered: true },
    { conversationId: stranger.confirm.conversationId, resumed: false, recovered: true }]);
  await again.waitFor((f) => f.type === 'response' && f.replyTo === m2);
  const replayed = again.frames.slice(1).map((f) => [f.conversationId, f.type]);
  expect(replayed).toEqual([[first, 'confirm'], [first, 'response'], [second, 'confirm'], [second, 'response']]);
  expect(again.frames.at(-1)).toEqual(r2);
});
