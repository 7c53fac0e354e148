// One whole AI turn (issue 6) over a real ChatServer, with both client builds
// and the zustand store: thinking x3, 20 deltas, a client tool call, a
// component, citations and an image analysis. Then the same turn with the
// socket broken mid-stream (a TCP proxy kills the connection: no close frame,
// the client sees 1006), which must end in the same state after resume, and a
// cancel mid-stream, which must end `cancelled` with `cancelled: true` on the wire.
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');
const { ChatServer } = require('chatwire');
const { builds } = require('./builds');
const { until } = require('./wsclient');
const { TcpProxy } = require('./tcpproxy');

const FIXTURE = 'png_rgb_4x3.png';
const IMAGE = fs.readFileSync(path.join(__dirname, '../fixtures/images', FIXTURE));
const STEPS = ['Analyzing your request...', 'Looking at the image...', 'Preparing the answer...'];
const PIECES = Array.from({ length: 20 }, (_, i) => `w${i} `);
const TEXT = PIECES.join('');
const FORM = { title: 'Set a reminder', fields: [{ name: 'time', type: 'time' }] };
const CITATIONS = [
  { documentId: 'doc-1', chunkId: 'doc-1#3', filename: 'manual.pdf', pageStart: 3, pageEnd: 4, score: 0.82 },
  { documentId: 'doc-2', chunkId: 'doc-2#1', filename: 'faq.pdf', pageStart: 1, pageEnd: 1, score: 0.5 },
];
const LOCATION = { lat: 52.52, lon: 13.405 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


// The analysis the handler computes from what the server learned about the image.
const analysisOf = (img) => ({
  imageId: img.id,
  description: `${img.mimeType}, ${img.width}x${img.height} px, ${img.size} bytes`,
  category: img.width >= img.height ? 'landscape' : 'portrait',
  condition: 'good',
  features: [`${img.width}x${img.height}`],
  recommendations: ['none'],
});

/**
 * A server whose handler runs the scripted turn. `midStream(reply)` runs
 * before delta 10; `seen` records what the handler observed.
 */
function turnServer() {
  const server = new ChatServer({ port: 0 });
  const state = { midStream: async () => {}, seen: [], disconnects: 0, done: null };
  server.on('disconnect', () => { state.disconnects++; });
  server.onMessage(async (msg, reply) => {
    state.seen.push({ tools: msg.tools.map((t) => t.name), images: msg.images.map((i) => [i.mimeType, i.width, i.height, i.size]) });
    reply.thinking(STEPS[0]);
    for (const img of msg.images) reply.imageStatus(img.id, 'processing');
    reply.thinking(STEPS[1]);
    const where = await reply.callTool('getLocation', { precise: true }, { timeoutMs: 5000 });
    reply.component('form', FORM);
    reply.thinking(STEPS[2]);
    for (const [i, piece] of PIECES.entries()) {
      if (i === 10) await state.midStream(reply);
      if (reply.signal.aborted) break;
      reply.delta(piece);
      await sleep(2);
    }
    if (reply.signal.aborted) {
      await reply.respond({});  // the core sends the streamed text with cancelled: true
      state.done?.();
      return;
    }
    for (const img of msg.images) reply.imageStatus(img.id, 'analyzed');
    expect(where).toEqual({ ...LOCATION, precise: true });
    await reply.respond({ content: TEXT, citations: CITATIONS, imageAnalysis: msg.images.map(analysisOf) });
    state.done?.();
  });
  return { server, state };
}

// The whole store state a UI renders after the complete turn.
function expectedMessages(userId, imageId) {
  const analysis = {
    imageId,
    description: `image/png, 4x3 px, ${IMAGE.length} bytes`,
    category: 'landscape',
    condition: 'good',
    features: ['4x3'],
    recommendations: ['none'],
  };
  return [
    {
      id: userId,
      role: 'user',
      content: 'turn please',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      status: 'processed',
      images: [{ id: imageId, mimeType: 'image/png', filename: FIXTURE, width: 4, height: 3, status: 'analyzed', analysis }],
    },
    {
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),  // the server's reply id, not the provisional one
      role: 'assistant',
      replyTo: userId,
      createdAt: expect.stringMatching(/Z$/),
      status: 'complete',
      content: TEXT,
      thinking: STEPS,
      toolCalls: [{
        toolCallId: expect.any(String), name: 'getLocation', arguments: { precise: true },
        status: 'done', result: { ...LOCATION, precise: true },
      }],
      components: [{ componentId: expect.any(String), component: 'form', props: FORM }],
      citations: CITATIONS,
      imageAnalysis: [analysis],
    },
  ];
}

describe.each(builds)('one AI turn, end to end (%s)', (name, cw) => {
  let server;
  let state;
  let proxy;
  let client;
  let store;
  let toolRuns;
  let toolHook;
  let deltas;
  let contents;

  beforeAll(async () => {
    await cw.init();
    ({ server, state } = turnServer());
    await server.listen();
  });
  afterAll(() => server.close());

  beforeEach(async () => {
    proxy = await TcpProxy.start(server.port);
    state.midStream = async () => {};
    state.seen = [];
    toolRuns = 0;
    toolHook = async () => {};
    client = await cw.ChatClient.create({
      url: `ws://127.0.0.1:${proxy.port}/ws/chat`,
      storage: 'memory',
      WebSocket,
      reconnect: { maxAttempts: 50, delaysMs: [100], minDelayMs: 100 },
      tools: {
        getLocation: async (args) => {
          toolRuns++;
          await toolHook();
          await sleep(5);
          return { ...LOCATION, precise: args.precise };
        },
      },
    });
    store = cw.createChatStore(client);
    deltas = [];
    client.on('delta', (d) => deltas.push(d.index));
    // Every text the assistant message showed while streaming.
    contents = [];
    store.subscribe((s) => {
      const a = s.messages.find((m) => m.role === 'assistant');
      if (a && contents[contents.length - 1] !== a.content) contents.push(a.content);
    });
    await client.connect();
  });

  afterEach(async () => {
    await client.close();
    await proxy.close();
  });

  async function runTurn() {
    const id = await store.getState().send({ content: 'turn please', images: [{ data: IMAGE, filename: FIXTURE }] });
    const imageId = client.messages.find((m) => m.id === id).images[0].id;
    return { id, imageId };
  }

  const finished = (id) => until(() => {
    const a = store.getState().messages.find((m) => m.role === 'assistant' && m.replyTo === id);
    return a && a.status !== 'streaming' && store.getState().messages.find((m) => m.id === id).status === 'processed';
  }, 'the end of the turn');

  test('thinking x3, 20 deltas, a tool call, a component, citations and an image analysis land in the store', async () => {
    const { id, imageId } = await runTurn();
    await finished(id);
    const s = store.getState();
    expect(s.messages).toEqual(expectedMessages(id, imageId));
    expect(s.thinking[id]).toEqual(STEPS);
    expect(s.typing).toBe(false);
    expect(s.connection.status).toBe('open');
    expect(s.lastSystem).toMatchObject({ kind: 'established' });
    expect(s.system.map((e) => e.kind)).toEqual(['established']);
    // The handler saw the client's tools and the decoded image.
    expect(state.seen).toEqual([{ tools: ['getLocation'], images: [['image/png', 4, 3, IMAGE.length]] }]);
    expect(toolRuns).toBe(1);
    // Deltas in order, each once; the text only ever grew.
    expect(deltas).toEqual(PIECES.map((_, i) => i));
    for (const c of contents) expect(TEXT.startsWith(c)).toBe(true);
    // The image went received -> processing -> analyzed on the wire.
    const statuses = proxy.serverFrames.filter((f) => f.type === 'confirm' && f.imageId === imageId).map((f) => f.status);
    expect(statuses).toEqual(['received', 'processing', 'analyzed']);
  });

  test('the socket killed mid-stream: after resume the same final state, the response replayed, no delta twice', async () => {
    state.midStream = async () => {
      await until(() => deltas.length === 10, 'the first ten deltas at the client');
      proxy.refuse = true;  // the network is down until the turn has ended on the server
      proxy.kill();
      await until(() => state.disconnects > 0 && client.connection.status === 'reconnecting', 'the server and the client to see the loss');
    };
    state.disconnects = 0;
    const ended = new Promise((resolve) => { state.done = resolve; });
    const { id, imageId } = await runTurn();
    await ended;  // the reply was completed while the client was away (a disconnect is not a cancel)
    expect(client.messages.find((m) => m.role === 'assistant').status).toBe('streaming');
    proxy.refuse = false;
    await until(() => client.connection.status === 'open' && proxy.connections.length >= 2, 'reconnected');
    await finished(id);

    expect(store.getState().messages).toEqual(expectedMessages(id, imageId));
    expect(store.getState().messages.filter((m) => m.role === 'assistant')).toHaveLength(1);
    expect(toolRuns).toBe(1);
    // Deltas: the first ten arrived live, each once; the rest were never replayed.
    expect(deltas).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const c of contents) expect(TEXT.startsWith(c)).toBe(true);
    // The resumed connection got the stored response (and no delta).
    const second = proxy.connections[proxy.connections.length - 1];
    expect(second[0]).toMatchObject({ type: 'connect_confirm', resumed: true, recovered: true });
    const replies = second.filter((f) => f.type === 'response');
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ replyTo: id, content: TEXT });
    expect(second.some((f) => f.type === 'delta')).toBe(false);
    const kinds = store.getState().system.map((e) => e.kind);
    expect(kinds[0]).toBe('established');
    expect(kinds).toContain('lost');
    expect(kinds).toContain('reconnecting');
    expect(store.getState().lastSystem.kind).toBe('restored');
  });

  test('the socket killed while a client tool runs: the tool runs once and its stored result reaches the server after resume', async () => {
    toolHook = async () => {
      proxy.refuse = true;
      proxy.kill();
      await until(() => client.connection.status === 'reconnecting', 'the client to see the loss');
      proxy.refuse = false;  // the result is stored; the server learns it after the resume
    };
    const { id, imageId } = await runTurn();
    await finished(id);
    expect(store.getState().messages).toEqual(expectedMessages(id, imageId));
    expect(toolRuns).toBe(1);
    // The resumed connection got the unanswered tool_call again (its seq was already applied).
    const first = proxy.connections[0].filter((f) => f.type === 'tool_call');
    const again = proxy.connections[proxy.connections.length - 1].filter((f) => f.type === 'tool_call');
    expect(first).toHaveLength(1);
    expect(again).toEqual(first);
    expect(deltas).toEqual(PIECES.map((_, i) => i));
  });

  test('cancel mid-stream: the reply ends cancelled with the text so far, cancelled: true on the wire', async () => {
    let aborted = false;
    state.midStream = async (reply) => {
      await store.getState().cancel(client.messages.find((m) => m.role === 'user' && m.content === 'turn please').id);
      await until(() => reply.signal.aborted, 'the handler to see the cancel');
      aborted = true;
    };
    const ended = new Promise((resolve) => { state.done = resolve; });
    const { id, imageId } = await runTurn();
    await ended;
    await until(() => store.getState().messages.find((m) => m.role === 'assistant')?.status === 'cancelled', 'cancelled');
    expect(aborted).toBe(true);
    const partial = PIECES.slice(0, 10).join('');
    const [user, assistant] = store.getState().messages;
    expect(assistant).toEqual({
      ...expectedMessages(id, imageId)[1],
      status: 'cancelled',
      content: partial,
      citations: [],
      imageAnalysis: [],
    });
    expect(user.status).toBe('processed');
    expect(user.images[0].status).toBe('processing');  // never analyzed
    expect(user.images[0].analysis).toBeUndefined();
    const response = proxy.serverFrames.filter((f) => f.type === 'response');
    expect(response).toHaveLength(1);
    expect(response[0]).toMatchObject({ replyTo: id, content: partial, cancelled: true });
    expect(store.getState().typing).toBe(false);
  });
});
