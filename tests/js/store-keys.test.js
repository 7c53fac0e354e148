// Issue 14 item 6: ids from the wire ("constructor", "__proto__", "toString")
// must not crash a client that uses the store. Another connection of the same
// owner writes messages with those ids through the real server; the watching
// client (with createChatStore) must keep working and show them.
const WebSocket = require('ws');
const { ChatServer } = require('chatwire');
const { builds } = require('./builds');
const { WsProbe, ts, until } = require('./wsclient');

const IDS = ['constructor', '__proto__', 'toString'];


// Fails the test if anything escapes to the process (what used to kill it).
function trapUncaught() {
  const seen = [];
  const onErr = (err) => seen.push(err);
  process.on('uncaughtException', onErr);
  return { seen, stop: () => process.off('uncaughtException', onErr) };
}

describe.each(builds)('untrusted ids in the client store (%s)', (name, cw) => {
  let server;
  let url;
  beforeAll(async () => {
    await cw.init();
    server = new ChatServer({ port: 0 });
    server.onMessage(async (msg, reply) => {
      reply.thinking(`thinking about ${msg.messageId}`);
      await reply.respond({ content: `re: ${msg.content}` });
    });
    await server.listen();
    url = `ws://127.0.0.1:${server.port}/ws/chat`;
  });
  afterAll(() => server.close());

  test('the store takes thinking steps for any replyTo, driven directly', () => {
    const listeners = new Map();
    const fake = {
      messages: [],
      connection: { status: 'idle' },
      on(event, fn) { listeners.set(event, fn); return () => {}; },
    };
    const store = cw.createChatStore(fake);
    for (const id of IDS) {
      listeners.get('thinking')({ replyTo: id, step: `a ${id}` });
      listeners.get('thinking')({ replyTo: id, step: `b ${id}` });
    }
    const { thinking } = store.getState();
    for (const id of IDS) {
      expect(Object.prototype.hasOwnProperty.call(thinking, id)).toBe(true);
      expect(thinking[id]).toEqual([`a ${id}`, `b ${id}`]);
    }
    expect(Object.keys(thinking).sort()).toEqual([...IDS].sort());
    expect(thinking.hasOwnProperty).toBeUndefined();  // no prototype to reach
  });

  test('messages with messageId constructor/__proto__/toString from another tab do not kill the client', async () => {
    const trap = trapUncaught();
    const client = await cw.ChatClient.create({ url, storage: 'memory', WebSocket, reconnect: { delaysMs: [100], minDelayMs: 100 } });
    const store = cw.createChatStore(client);
    try {
      await client.connect();
      const other = new WsProbe(url);
      // The same owner in the same conversation (another tab): the server sends
      // that conversation's live events to the watching client too.
      other.clientId = client.clientId;
      const conversationId = client.connection.conversationId;
      await other.connect({ conversationId, lastSeq: 0 });
      for (const id of IDS) {
        other.send({ type: 'message', messageId: id, clientId: other.clientId, timestamp: ts(), content: `hi ${id}`, conversationId });
      }
      await until(() => IDS.every((id) => store.getState().messages.some((m) => m.role === 'assistant' && m.replyTo === id && m.status === 'complete')),
        'the replies to every hostile id');
      const s = store.getState();
      for (const id of IDS) {
        expect(Object.prototype.hasOwnProperty.call(s.thinking, id)).toBe(true);
        expect(s.thinking[id]).toEqual([`thinking about ${id}`]);
      }
      // Still working: an ordinary message goes through afterwards.
      const mine = await store.getState().send({ content: 'still here' });
      await until(() => store.getState().messages.find((m) => m.id === mine)?.status === 'processed', 'a normal turn afterwards');
      expect(store.getState().thinking[mine]).toEqual([`thinking about ${mine}`]);
      await new Promise((r) => setTimeout(r, 50));
      expect(trap.seen).toEqual([]);
      await other.close();
    } finally {
      trap.stop();
      await client.close();
    }
  });

  test('a listener that throws is reported, not thrown out of the socket callback', async () => {
    const trap = trapUncaught();
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    const client = await cw.ChatClient.create({ url, storage: 'memory', WebSocket, reconnect: { delaysMs: [100], minDelayMs: 100 } });
    const store = cw.createChatStore(client);
    try {
      client.on('thinking', () => { throw new Error('listener bug'); });
      store.subscribe(() => { throw new Error('subscriber bug'); });
      await client.connect();
      const id = await client.send({ content: 'hello' });
      await until(() => client.messages.find((m) => m.id === id)?.status === 'processed', 'the turn despite throwing listeners');
      await new Promise((r) => setTimeout(r, 50));
      expect(trap.seen).toEqual([]);
      expect(spy.mock.calls.some((c) => c.some((a) => a instanceof Error && /listener bug/.test(a.message)))).toBe(true);
      expect(spy.mock.calls.some((c) => c.some((a) => a instanceof Error && /subscriber bug/.test(a.message)))).toBe(true);
    } finally {
      spy.mockRestore();
      trap.stop();
      await client.close();
    }
  });
});
