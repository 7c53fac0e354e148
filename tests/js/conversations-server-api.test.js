// The server's JS API for version 1.1 (DESIGN.md "Version 1.1 API", issue 17):
// msg.metadata / parentId / history(), reply.setTitle(), respond({ metadata }),
// server.listConversations() / deleteConversation(), against the real server
// with the `ws` package as the client.
const crypto = require('node:crypto');
const { ChatServer, ChatError } = require('chatwire');
const { WsProbe } = require('./wsclient');

let server;
const seen = [];
beforeAll(async () => {
  server = new ChatServer({ port: 0 });
  server.onMessage(async (msg, reply) => {
    const context = await msg.history();
    const lastTwo = await msg.history({ limit: 2 });
    seen.push({ msg, context, lastTwo });
    if (msg.content === 'name it') reply.setTitle('Trip to Rome');
    if (msg.content === 'name it too long') {
      try { reply.setTitle('x'.repeat(201)); } catch (e) { seen[seen.length - 1].titleError = e; }
    }
    await reply.respond({ content: `echo: ${msg.content}`, metadata: { model: 'test-1' } });
  });
  await server.listen();
});
afterAll(() => server.close());

const probes = [];
afterEach(() => Promise.all(probes.splice(0).map((p) => p.close())));
async function tab(clientId) {
  const p = new WsProbe(`ws://127.0.0.1:${server.port}/ws/chat`);
  if (clientId) p.clientId = clientId;
  probes.push(p);
  p.confirm = await p.connect();
  return p;
}
async function turn(p, content, extra) {
  const id = p.message(content, extra);
  const response = await p.waitFor((f) => f.type === 'response' && f.replyTo === id);
  return { id, response, handled: seen.find((s) => s.msg.messageId === id) };
}

test('msg.history() is the active branch before the message, oldest first, shaped for a model', async () => {
  const p = await tab();
  const first = await turn(p, 'one', { metadata: { app: 'UD21', agentPromptPath: 'prompts/a.md' } });
  expect(first.handled.context).toEqual([]);
  expect(first.handled.msg.metadata).toEqual({ app: 'UD21', agentPromptPath: 'prompts/a.md' });
  expect(first.handled.msg.parentId).toBeNull();
  const second = await turn(p, 'two');
  expect(second.handled.msg.parentId).toBe(first.response.messageId);
  expect(second.handled.context).toEqual([
    { role: 'user', content: 'one', messageId: first.id },
    { role: 'assistant', content: 'echo: one', messageId: first.response.messageId },
  ]);
  // An edit of 'two': a sibling on its parent; its context does not hold 'two'.
  const edit = await turn(p, 'two, edited', { parentId: first.response.messageId });
  expect(edit.handled.context.map((m) => m.content)).toEqual(['one', 'echo: one']);
  const third = await turn(p, 'three');
  expect(third.handled.context.map((m) => m.content)).toEqual(['one', 'echo: one', 'two, edited', 'echo: two, edited']);
  expect(third.handled.lastTwo.map((m) => m.content)).toEqual(['two, edited', 'echo: two, edited']);
  expect(third.response.metadata).toEqual({ model: 'test-1' });
  await expect(third.handled.msg.history({ limit: 0 })).rejects.toThrow(RangeError);
});

test('reply.setTitle() names the conversation for every connection of the owner; past 200 characters it throws too_large', async () => {
  const a = await tab();
  const b = await tab(a.clientId);
  await turn(a, 'name it');
  const [onA, onB] = await Promise.all([a.waitFor('conversation'), b.waitFor('conversation')]);
  expect(onA).toEqual(onB);
  expect(onA).toMatchObject({ conversationId: a.confirm.conversationId, title: 'Trip to Rome' });
  const t = await turn(a, 'name it too long');
  expect(t.handled.titleError).toBeInstanceOf(ChatError);
  expect(t.handled.titleError.code).toBe('too_large');
  const page = server.listConversations({ clientId: a.clientId });
  expect(page.items.map((i) => [i.conversationId, i.title])).toEqual([[a.confirm.conversationId, 'Trip to Rome']]);
});

test('server.listConversations() pages an owner\'s conversations; deleteConversation() removes one and tells its connections', async () => {
  const a = await tab();
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const conversationId = crypto.randomUUID();
    ids.push(conversationId);
    await turn(a, `chat ${i}`, { conversationId });
    await new Promise((r) => setTimeout(r, 3));  // updatedAt has ms resolution: ties list in any order
  }
  const first = server.listConversations({ clientId: a.clientId }, { limit: 2 });
  expect(first.items.map((i) => i.conversationId)).toEqual([ids[2], ids[1]]);
  expect(first.hasMore).toBe(true);
  const second = server.listConversations({ clientId: a.clientId }, { limit: 2, before: first.cursor });
  expect(second.items.map((i) => i.conversationId)).toEqual([ids[0]]);
  expect(second.hasMore).toBe(false);
  expect(server.listConversations({ clientId: crypto.randomUUID() }).items).toEqual([]);
  expect(() => server.listConversations({ clientId: a.clientId }, { limit: 101 })).toThrow(expect.objectContaining({ code: 'invalid_field' }));
  expect(() => server.listConversations({})).toThrow(TypeError);

  await server.deleteConversation(ids[1]);
  const gone = await a.waitFor('conversation_deleted');
  expect(gone.conversationId).toBe(ids[1]);
  expect(server.listConversations({ clientId: a.clientId }).items.map((i) => i.conversationId)).toEqual([ids[2], ids[0]]);
  await expect(server.deleteConversation(ids[1])).rejects.toMatchObject({ code: 'not_found' });
});
