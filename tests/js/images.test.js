// Images end to end (issue 5) over a real ChatServer with both client builds:
// per-image status received -> processing -> analyzed and the analysis on the
// user message; every accepted input form (Uint8Array, Buffer, Blob,
// { data, mimeType, filename }, base64 text) arrives byte-exact; a bad image
// fails send() with ChatError before anything is stored or sent. And the
// server's own check: polyglot files (issue 15.3), sent by a client that does
// not sniff, are answered with image_invalid naming the message.
const fs = require('node:fs');
const path = require('node:path');
const WebSocket = require('ws');
const { ChatServer } = require('chatwire');
const { builds } = require('./builds');
const { until, WsProbe } = require('./wsclient');
const { TcpProxy } = require('./tcpproxy');

const dir = path.join(__dirname, '../fixtures/images');
const fixture = (file) => fs.readFileSync(path.join(dir, file));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));


const analysisOf = (img) => ({
  imageId: img.id,
  description: `${img.mimeType} ${img.width}x${img.height}, ${img.size} bytes`,
  category: img.width === img.height ? 'square' : img.width > img.height ? 'landscape' : 'portrait',
  condition: 'good',
  features: [img.filename ?? 'no filename'],
  recommendations: [],
});

describe.each(builds)('images over a real connection (%s)', (name, cw) => {
  let server;
  let proxy;
  let received;  // what the handler got, per message
  const clients = [];

  beforeAll(async () => {
    await cw.init();
    server = new ChatServer({ port: 0 });
    server.onMessage(async (msg, reply) => {
      received.push(msg);
      reply.thinking('Looking at your images...');
      for (const img of msg.images) {
        reply.imageStatus(img.id, 'processing');
        await sleep(3);
        reply.imageStatus(img.id, 'analyzed');
      }
      await reply.respond({ content: `${msg.images.length} images`, imageAnalysis: msg.images.map(analysisOf) });
    });
    await server.listen();
    proxy = await TcpProxy.start(server.port);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await proxy.close();
    await server.close();
  });
  beforeEach(() => { received = []; });

  const make = async () => {
    const c = await cw.ChatClient.create({ url: `ws://127.0.0.1:${proxy.port}/ws/chat`, storage: 'memory', WebSocket });
    clients.push(c);
    return c;
  };

  test('three images: each goes received -> processing -> analyzed and its analysis lands on the message', async () => {
    const client = await make();
    const store = cw.createChatStore(client);
    const seen = new Map();  // imageId -> statuses seen in the store, in order
    store.subscribe((s) => {
      for (const m of s.messages) {
        if (m.role !== 'user') continue;
        for (const img of m.images) {
          const list = seen.get(img.id) ?? [];
          if (img.status && list[list.length - 1] !== img.status) list.push(img.status);
          seen.set(img.id, list);
        }
      }
    });
    await client.connect();
    const files = ['png_rgb_4x3.png', 'jpeg_progressive_40x30.jpg', 'webp_lossless_23x300.webp'];
    const id = await store.getState().send({ content: 'three', images: files.map((f) => ({ data: fixture(f), filename: f })) });
    await until(() => store.getState().messages.find((m) => m.id === id)?.status === 'processed', 'processed');

    const user = store.getState().messages.find((m) => m.id === id);
    expect(user.images.map((i) => [i.mimeType, i.width, i.height, i.filename])).toEqual([
      ['image/png', 4, 3, files[0]], ['image/jpeg', 40, 30, files[1]], ['image/webp', 23, 300, files[2]],
    ]);
    for (const img of user.images) {
      expect(seen.get(img.id)).toEqual(['received', 'processing', 'analyzed']);
      expect(img.status).toBe('analyzed');
      const size = fixture(img.filename).length;
      expect(img.analysis).toEqual(analysisOf({ ...img, size }));
    }
    const reply = store.getState().messages.find((m) => m.role === 'assistant' && m.replyTo === id);
    expect(reply.imageAnalysis.map((a) => a.imageId)).toEqual(user.images.map((i) => i.id));
    // On the wire: the statuses in order per image, each confirm seq'd and increasing.
    for (const img of user.images) {
      const confirms = proxy.serverFrames.filter((f) => f.type === 'confirm' && f.imageId === img.id);
      expect(confirms.map((f) => f.status)).toEqual(['received', 'processing', 'analyzed']);
      const seqs = confirms.map((f) => f.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    }
    // The server handed the handler the decoded bytes, type and size.
    expect(received).toHaveLength(1);
    received[0].images.forEach((img, i) => {
      expect(Buffer.from(img.data).equals(fixture(files[i]))).toBe(true);
      expect(img.size).toBe(fixture(files[i]).length);
    });
  });

  test('Uint8Array, Buffer, Blob, { data, mimeType, filename } and base64 text all arrive byte-exact', async () => {
    const client = await make();
    await client.connect();
    const png = fixture('png_palette_300x2.png');
    const jpeg = fixture('jpeg_exif_first_24x16.jpg');
    const gif = fixture('gif89a_6x10.gif');
    const webp = fixture('webp_extended_alpha_64x48.webp');
    const gray = fixture('png_gray_17x9.png');
    const id = await client.send({
      content: 'five forms',
      images: [
        new Uint8Array(png),                                           // a plain Uint8Array (a copy)
        jpeg,                                                          // a Buffer
        new Blob([gif], { type: 'image/png' }),                        // a Blob; its `type` is not trusted
        { data: webp, mimeType: 'image/webp', filename: 'alpha.webp' }, // declared type and name
        { data: gray.toString('base64'), filename: 'gray.png' },       // base64 text
      ],
    });
    await until(() => client.messages.find((m) => m.id === id)?.status === 'processed', 'processed');
    expect(received).toHaveLength(1);
    const got = received[0].images;
    expect(got.map((i) => [i.mimeType, i.width, i.height, i.filename])).toEqual([
      ['image/png', 300, 2, undefined],
      ['image/jpeg', 24, 16, undefined],
      ['image/gif', 6, 10, undefined],
      ['image/webp', 64, 48, 'alpha.webp'],
      ['image/png', 17, 9, 'gray.png'],
    ]);
    [png, jpeg, gif, webp, gray].forEach((bytes, i) => expect(Buffer.from(got[i].data).equals(bytes)).toBe(true));
    const user = client.messages.find((m) => m.id === id);
    expect(user.images.every((i) => i.status === 'analyzed' && i.analysis?.imageId === i.id)).toBe(true);
  });

  test('a bad image fails send() with ChatError naming it and leaves nothing in the store or the outbox', async () => {
    const client = await make();
    const store = cw.createChatStore(client);
    const cases = [
      [{ data: fixture('mislabeled_gif.png'), mimeType: 'image/png' }, 'image_invalid', /is image\/gif but was declared image\/png/],
      [fixture('truncated_png_20_bytes.png'), 'image_invalid', /truncated PNG/],
      [fixture('empty.png'), 'image_invalid', /empty/],
      [fixture('png_over_dimension_9000x10.png'), 'image_invalid', /9000x10 pixels, over the limit/],
      [new Uint8Array(9 * 1024 * 1024), 'too_large', /over the limit of 8388608 bytes/],
      [{ data: 'not base64!', filename: 'x.png' }, 'image_invalid', /^images\[1\]: data is not valid base64/],
    ];
    for (const [image, code, reason] of cases) {
      let error;
      try {
        // The bad image is the second one: nothing of the message may be kept.
        await client.send({ content: 'bad', images: [fixture('png_rgb_4x3.png'), image] });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(cw.ChatError);
      expect(error.code).toBe(code);
      expect(error.message).toMatch(reason);
      if (typeof image.data !== 'string') {
        // The core names the image by position and id.
        expect(error.message).toMatch(/^image 2 \(/);
        expect(error.message).toContain(error.imageId);
      }
    }
    let tooMany;
    try {
      await client.send({ images: Array.from({ length: 6 }, () => fixture('png_rgb_4x3.png')) });
    } catch (err) {
      tooMany = err;
    }
    expect(tooMany).toMatchObject({ name: 'ChatError', code: 'too_large' });
    expect(client.messages).toEqual([]);
    expect(store.getState().messages).toEqual([]);
    // Nothing was queued: connecting sends only the next good message.
    await client.connect();
    const id = await client.send({ content: 'good', images: [fixture('png_rgb_4x3.png')] });
    await until(() => client.messages.find((m) => m.id === id)?.status === 'processed', 'processed');
    expect(received.map((m) => m.content)).toEqual(['good']);
    expect(client.messages.filter((m) => m.role === 'user').map((m) => m.id)).toEqual([id]);
  });

  test('sniffImage checks an image at selection time, as send() does', () => {
    expect(cw.sniffImage(fixture('webp_lossy_300x200.webp'))).toEqual({ mimeType: 'image/webp', width: 300, height: 200 });
    expect(() => cw.sniffImage(fixture('svg_as_png.png'))).toThrow(cw.ChatError);
  });
});

describe('polyglot images over the wire, from a client that does not check them', () => {
  const { images } = require('../fixtures/images/manifest.json');
  // One file that is an image only in its first bytes, per format and kind.
  const refused = images.filter((e) => e.file.startsWith('polyglot_') && !e.sniff.ok);
  let server;
  let received;

  beforeAll(async () => {
    server = new ChatServer({ port: 0 });
    received = [];
    server.onMessage(async (msg, reply) => {
      received.push(msg.messageId);
      await reply.respond({ content: 'ok' });
    });
    await server.listen();
  });
  afterAll(() => server.close());

  test('each polyglot fixture is answered with image_invalid naming the message and the image', async () => {
    expect(new Set(refused.map((e) => e.declared))).toEqual(new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']));
    const probe = new WsProbe(`ws://127.0.0.1:${server.port}/ws/chat`);
    await probe.connect();
    for (const e of refused) {
      const imageId = `img-${e.file}`;
      const messageId = probe.message('what is this?', {
        images: [{ id: imageId, data: fixture(e.file).toString('base64'), mimeType: e.declared, filename: e.file }],
      });
      const error = await probe.waitFor((f) => f.type === 'error' && f.messageId === messageId);
      expect({ file: e.file, code: error.code, imageId: error.imageId }).toEqual({ file: e.file, code: 'image_invalid', imageId });
      expect(error.error).toContain(e.expect.messageContains);
      expect(error.error).toMatch(/^image 1 \(img-/);
    }
    // None reached the handler or was confirmed; the connection is still usable.
    expect(probe.frames.filter((f) => f.type === 'confirm')).toEqual([]);
    const good = probe.message('and this?', {
      images: [{ id: 'img-ok', data: fixture('polyglot_jpeg_with_html_appended.jpg').toString('base64'), mimeType: 'image/jpeg' }],
    });
    await probe.waitFor((f) => f.type === 'response' && f.replyTo === good);
    expect(received).toEqual([good]);
    await probe.close();
  });
});
