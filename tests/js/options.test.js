// Options: JS checks their types; their ranges and defaults are the core's
// (issue 16, docs/architecture.md "Where each rule lives: options"), so a
// refusal is a RangeError with the core's text, the same in both builds, and
// comes before anything is opened.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { ChatServer } = require('chatwire');
const { builds } = require('./builds');
const { until } = require('./wsclient');

const authenticate = async () => ({ userId: 'u' });
const SECRET = '0123456789abcdef';

describe('ChatServer options', () => {
  test('a ticketTtlMs past the core\'s range is refused naming options.auth.ticketTtlMs and the range', () => {
    expect(() => new ChatServer({ auth: { secret: SECRET, authenticate, ticketTtlMs: 2 * 86400000 } }))
      .toThrow(new RangeError('options.auth.ticketTtlMs must be an integer from 1000 to 86400000, got 172800000'));
  });

  test('a bad limit is a RangeError naming options.limits.<name>', () => {
    expect(() => new ChatServer({ limits: { maxImages: -1 } }))
      .toThrow(new RangeError('options.limits.maxImages must be a positive integer'));
  });

  test('ranges and rules between options come from the core; types are checked in JS', () => {
    expect(() => new ChatServer({ port: 70000 }))
      .toThrow(new RangeError('options.port must be an integer from 0 to 65535, got 70000'));
    expect(() => new ChatServer({ path: 'ws/chat' }))
      .toThrow(new RangeError("options.path must be a path starting with '/'"));
    expect(() => new ChatServer({ auth: { secret: 'short', authenticate } }))
      .toThrow(new RangeError('options.auth.secret must be a string of at least 16 characters'));
    expect(() => new ChatServer({ port: '8080' })).toThrow(new TypeError('options.port must be an integer, got 8080'));
    expect(new ChatServer({}).port).toBe(0);  // the core's default, before listen()
  });

  // setTimeout fires at once for a delay past 2^31-1 ms: such a timeout used to
  // reject the tool call at once with "did not answer within 2147483648 ms".
  test('reply.callTool refuses a timeoutMs past the core\'s range before asking the client', async () => {
    const server = new ChatServer({ port: 0 });
    const seen = [];
    server.onMessage(async (msg, reply) => {
      try {
        await reply.callTool('getLocation', {}, { timeoutMs: 2 ** 31 });
        seen.push('answered');
      } catch (err) {
        seen.push(err);
      }
      await reply.respond({ content: 'done' });
    });
    await server.listen();
    const { ChatClient } = require('chatwire');
    let toolRuns = 0;
    const client = await ChatClient.create({
      url: `ws://127.0.0.1:${server.port}/ws/chat`, storage: 'memory', WebSocket,
      tools: { getLocation: async () => { toolRuns++; return { lat: 0, lon: 0 }; } },
    });
    try {
      await client.connect();
      const id = await client.send({ content: 'where am I?' });
      await until(() => client.messages.find((m) => m.replyTo === id)?.status === 'complete', 'reply', 8000);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBeInstanceOf(RangeError);
      expect(seen[0].message).toBe('options.timeoutMs must be an integer from 1 to 2147483647, got 2147483648');
      expect(toolRuns).toBe(0);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe.each(builds)('ChatClient options (%s)', (name, cw) => {
  beforeAll(() => cw.init());
  const create = (extra) => cw.ChatClient.create({ url: 'ws://127.0.0.1:9/ws/chat', storage: 'memory', WebSocket, ...extra });

  test('a heartbeatMs under the core\'s minimum is a RangeError with the core\'s text', async () => {
    await expect(create({ heartbeatMs: 50 }))
      .rejects.toThrow(new RangeError('options.heartbeatMs must be an integer from 100 to 9007199254740991, got 50'));
  });

  test('an empty reconnect.delaysMs is out of range (the engine would have no delay to retry after)', async () => {
    const err = await create({ reconnect: { delaysMs: [] } }).catch((e) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toBe('options.reconnect.delaysMs must be a non-empty array of integers >= 0');
  });

  test('a jitter past 1 and an unknown transport are RangeErrors naming the option', async () => {
    await expect(create({ reconnect: { jitter: 1.5 } }))
      .rejects.toThrow(new RangeError('options.reconnect.jitter must be a number from 0 to 1, got 1.5'));
    const err = await create({ transports: ['carrier-pigeon'] }).catch((e) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toMatch(/^option 'transports' must be/);
  });

  test('a limit the server would refuse is refused by the client too, with the server\'s text', async () => {
    // One parser of limits (parse_limits) for ChatServer and ChatClient: before, the client
    // took maxContentBytes 0 and then refused every text message it was given.
    await expect(create({ limits: { maxContentBytes: 0 } }))
      .rejects.toThrow(new RangeError('options.limits.maxContentBytes must be a positive integer'));
    expect(() => new ChatServer({ limits: { maxContentBytes: 0 } }))
      .toThrow(new RangeError('options.limits.maxContentBytes must be a positive integer'));
  });

  test('types are checked in JS, naming the option', async () => {
    await expect(create({ heartbeatMs: 150.5 })).rejects.toThrow(new TypeError('options.heartbeatMs must be an integer, got 150.5'));
    await expect(create({ reconnect: { jitter: 'lots' } })).rejects.toThrow(TypeError);
  });

  test('ERROR_CODES is the core\'s list, once the native is loaded', () => {
    expect(cw.ERROR_CODES).toContain('unavailable');
    expect(cw.ERROR_CODES).toContain('conflict');  // PROTOCOL.md 1.1 "New error codes"
    expect(Object.isFrozen(cw.ERROR_CODES)).toBe(true);
  });
});

test('refused options open no storage: no database file is created', async () => {
  const { ChatClient } = require('chatwire');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-options-'));
  const file = path.join(dir, 'client.db');
  try {
    const err = await ChatClient.create({ url: 'ws://127.0.0.1:9/ws/chat', storage: file, transports: ['carrier-pigeon'] })
      .catch((e) => e);
    expect(fs.existsSync(file)).toBe(false);
    expect(err).toBeInstanceOf(RangeError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
