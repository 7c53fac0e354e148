// Images and base64 in both builds: every fixture of tests/fixtures/images
// gets the verdict its manifest records (the same manifest GoogleTest reads),
// and base64 round-trips byte-exact.
const fs = require('node:fs');
const path = require('node:path');
const { builds, node, wasm } = require('./builds');

const dir = path.join(__dirname, '../fixtures/images');
const { images } = require('../fixtures/images/manifest.json');
const bytesOf = (file) => new Uint8Array(fs.readFileSync(path.join(dir, file)));

beforeAll(() => Promise.all([node.init(), wasm.init()]));

describe.each(builds)('images (%s)', (_name, cw) => {
  test.each(images.map((e) => [`${e.file} as ${e.declared}`, e]))('sniffImage %s', (_n, e) => {
    const bytes = bytesOf(e.file);
    if (e.sniff.ok) {
      expect(cw.sniffImage(bytes)).toEqual({ mimeType: e.sniff.mimeType, width: e.sniff.width, height: e.sniff.height });
    } else {
      let error;
      try { cw.sniffImage(bytes); } catch (err) { error = err; }
      expect(error).toBeDefined();
      expect(error.name).toBe('ChatError');
      expect(error.code).toBe('image_invalid');
      expect(error.message.length).toBeGreaterThan(5);
    }
  });

  test.each(images.map((e) => [`${e.file} as ${e.declared}`, e]))('a message carrying %s', (_n, e) => {
    const frame = {
      type: 'message', messageId: 'm-1', clientId: 'c-1', timestamp: '2026-11-23T13:47:50.123Z',
      images: [{ id: 'img-1', data: cw.base64.encode(bytesOf(e.file)), mimeType: e.declared }],
    };
    const r = cw.codec.decode(JSON.stringify(frame), { direction: 'client' });
    expect(r.ok).toBe(e.expect.ok);
    if (!e.expect.ok) {
      expect(r.error.code).toBe(e.expect.code);
      expect(r.error.messageId).toBe('m-1');
      expect(r.error.imageId).toBe('img-1');
    }
  });

  test('sniffImage refuses what is not bytes', () => {
    expect(() => cw.sniffImage('not bytes')).toThrow(TypeError);
  });

  test('base64 round-trips every length 0..4096 byte-exact', () => {
    const src = new Uint8Array(4096);
    for (let i = 0; i < src.length; i++) src[i] = (i * 151 + 7) & 255;
    for (let n = 0; n <= 4096; n++) {
      const part = src.subarray(0, n);
      const text = cw.base64.encode(part);
      expect(text).toBe(Buffer.from(part).toString('base64'));
      expect(Buffer.from(cw.base64.decode(text)).equals(Buffer.from(part))).toBe(true);
    }
  });

  test('base64 round-trips random megabyte inputs', () => {
    for (const n of [1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 2]) {
      const bytes = require('node:crypto').randomBytes(n);
      const text = cw.base64.encode(bytes);
      expect(text).toBe(bytes.toString('base64'));
      expect(Buffer.from(cw.base64.decode(text)).equals(bytes)).toBe(true);
    }
  });

  test('strict base64: a non-ASCII character anywhere in a long text is refused, never truncated to a letter', () => {
    // U+0141 and U+0100+'A' have a low byte that is a base64 letter; a decoder
    // that narrowed the string to latin-1 would accept them.
    const good = Buffer.from(new Uint8Array(3000).map((_, i) => (i * 37) & 255)).toString('base64');
    for (const ch of ['\u0141', '\u0161', '\u00e9', '\u{1F600}']) {
      for (const at of [0, 17, 100, 1999, good.length - 3]) {
        const text = good.slice(0, at) + ch + good.slice(at + 1);
        let error;
        try { cw.base64.decode(text); } catch (err) { error = err; }
        expect(error && error.code).toBe('image_invalid');
        expect(error.message).toContain(`at offset ${at}`);
      }
    }
  });

  test('strict base64: whitespace, bad padding and bad characters are refused with the offset', () => {
    for (const bad of ['AQID/w=', 'AQID /w==', 'AQID\n/w==', 'AQ=D', 'AQI*', 'AQJ=']) {
      let error;
      try { cw.base64.decode(bad); } catch (err) { error = err; }
      expect(error && error.code).toBe('image_invalid');
    }
  });
});
