// The protocol codec gives the same verdict in both builds, for every case of
// tests/fixtures/codec-cases.json (the same file tests/cpp/codec_test.cc reads).
const { builds, node, wasm } = require('./builds');
const { cases } = require('../fixtures/codec-cases.json');

beforeAll(() => Promise.all([node.init(), wasm.init()]));

describe.each(builds)('codec (%s)', (_name, cw) => {
  test.each(cases.map((c) => [c.name, c]))('%s', (_n, c) => {
    const r = cw.codec.decode(c.text, { direction: c.direction, limits: c.limits });
    expect(r.ok).toBe(c.expect.ok);
    if (c.expect.ok) {
      // canonical output decodes to itself (round trip through encode)
      const again = cw.codec.encode(r.frame, { direction: c.direction, limits: c.limits });
      expect(again.ok).toBe(true);
      expect(JSON.parse(again.text)).toEqual(r.frame);
      expect(r.frame.type).toBe(JSON.parse(c.text).type);
    } else {
      expect(r.error.code).toBe(c.expect.code);
      if (c.expect.messageId) expect(r.error.messageId).toBe(c.expect.messageId);
      if (c.expect.imageId) expect(r.error.imageId).toBe(c.expect.imageId);
      if (c.expect.contains) expect(r.error.error).toContain(c.expect.contains);
      expect(typeof r.error.error).toBe('string');
    }
  });

  test('unknown fields are dropped from the canonical frame', () => {
    const r = cw.codec.decode(
      '{"type":"ping","clientId":"c","timestamp":"2026-11-23T13:47:50.123Z","extra":[1,2]}', { direction: 'client' });
    expect(r).toEqual({ ok: true, frame: { type: 'ping', clientId: 'c', timestamp: '2026-11-23T13:47:50.123Z' } });
  });

  test('encode refuses an invalid frame with the same error decode gives', () => {
    const frame = { type: 'load_messages', conversationId: 'c', limit: 500 };
    expect(cw.codec.encode(frame)).toEqual(cw.codec.decode(JSON.stringify(frame)));
    expect(cw.codec.encode(frame).error.code).toBe('invalid_field');
  });

  test('limits: defaults from PROTOCOL.md, overrides checked', () => {
    expect(cw.codec.limits()).toEqual({
      maxFrameBytes: 16 * 1024 * 1024, maxContentBytes: 32 * 1024, maxImages: 5,
      maxImageBytes: 8 * 1024 * 1024, maxImageDimension: 8192, messagesPerSecond: 20, messageBurst: 40,
      maxAudioBytes: 10 * 1024 * 1024, maxAudioDurationMs: 300000,
      maxTools: 128, maxToolsBytes: 256 * 1024,
    });
    expect(cw.codec.limits({ maxImages: 2 }).maxImages).toBe(2);
    expect(() => cw.codec.limits({ maxImages: -1 })).toThrow(/maxImages/);
  });

  test('argument errors name the argument', () => {
    expect(() => cw.codec.decode(42)).toThrow(TypeError);
    expect(() => cw.codec.decode('{}', { direction: 'sideways' })).toThrow(/direction/);
  });
});

test('both builds give identical results for every case', () => {
  for (const c of cases) {
    const opts = { direction: c.direction, limits: c.limits };
    expect(wasm.codec.decode(c.text, opts)).toEqual(node.codec.decode(c.text, opts));
  }
});

// One list of error codes: the JS ChatError list agrees with the core's.
test('ERROR_CODES in JS is the core\'s list of error codes', () => {
  const addon = require('../../build/Release/chatwire.node');
  const { ERROR_CODES } = require('chatwire');
  expect([...ERROR_CODES]).toEqual(addon.errorCodes());
});
