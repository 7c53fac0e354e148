// client.submitComponent(componentId, action, values): a form the server sent
// is submitted as a `component_action` that reaches server.onComponentAction,
// in both builds.
const WebSocket = require('ws');
const { ChatServer, createChatStore } = require('chatwire');
const { builds } = require('./builds');
const { until } = require('./wsclient');


describe.each(builds)('submitComponent (%s)', (name, cw) => {
  let server;
  let url;
  const actions = [];
  beforeAll(async () => {
    await cw.init();
    server = new ChatServer({ port: 0 });
    server.onMessage(async (msg, reply) => {
      reply.component('form', { title: 'Wake-up time', fields: [{ name: 'time', type: 'time', label: 'Time' }] });
      await reply.respond({ content: 'Pick a time.' });
    });
    server.onComponentAction((action) => { actions.push(action); });
    await server.listen();
    url = `ws://127.0.0.1:${server.port}/ws/chat`;
  });
  afterAll(() => server.close());

  test('a submitted form reaches onComponentAction once; unknown ids and offline are refused', async () => {
    actions.length = 0;
    const client = await cw.ChatClient.create({ url, storage: 'memory', WebSocket });
    const store = createChatStore(client);
    try {
      await client.connect();
      await client.send({ content: 'wake me up' });
      const reply = await until(() => client.messages.find((m) => m.role === 'assistant' && m.status === 'complete'),
        'the reply', 8000);
      expect(reply.components).toHaveLength(1);
      const { componentId } = reply.components[0];

      await expect(store.getState().submitComponent(componentId, 'submit', { time: '07:00' })).resolves.toBe(true);
      await until(() => actions.length === 1, 'onComponentAction', 8000);
      expect(actions[0]).toMatchObject({ componentId, action: 'submit', values: { time: '07:00' } });

      await expect(client.submitComponent('no-such-component', 'submit', {})).rejects.toMatchObject({ code: 'not_found' });
      await expect(client.submitComponent(componentId, 'submit', [1])).rejects.toThrow(TypeError);

      await client.disconnect();
      await expect(client.submitComponent(componentId, 'submit', { time: '08:00' })).resolves.toBe(false);
      await new Promise((r) => setTimeout(r, 100));
      expect(actions).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});
