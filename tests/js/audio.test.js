// sniffAudio in both builds: every fixture of tests/fixtures/audio (made by
// real encoders, scripts/make-audio-fixtures.sh) gives its type and, within
// 10 ms, the duration ffprobe / opusinfo / ogginfo report; the bad cases
// (cut headers, a declared type that is not the bytes', a WAV claiming a
// huge data size, an Ogg page without its capture pattern, an EBML DocType
// that is not WebM, random bytes, over 10 MiB or 300 s) are refused with the
// documented code; and both builds give identical answers for all of it.
const fs = require('node:fs');
const path = require('node:path');
const { builds, node, wasm } = require('./builds');

const dir = path.join(__dirname, '../fixtures/audio');
const { audio } = require('../fixtures/audio/manifest.json');
const bytesOf = (file) => new Uint8Array(fs.readFileSync(path.join(dir, file)));
const TYPES = ['audio/wav', 'audio/ogg', 'audio/webm', 'audio/mpeg'];

beforeAll(() => Promise.all([node.init(), wasm.init()]));

// What a call gives, as plain data: the result or the error's code and text.
function outcome(cw, bytes, options) {
  try {
    return { ok: true, ...cw.sniffAudio(bytes, options) };
  } catch (err) {
    if (err.name !== 'ChatError') throw err;
    return { ok: false, code: err.code, message: err.message };
  }
}

function withByte(bytes, at, value) {
  const out = new Uint8Array(bytes);
  out[at] = value;
  return out;
}

function indexOf(bytes, pattern) {
  const i = Buffer.from(bytes).indexOf(Buffer.from(pattern));
  if (i < 0) throw new Error(`pattern ${pattern} not in the fixture`);
  return i;
}

// The bad cases a user (or a hostile client) produces, each with the code the
// core must give and a piece of its reason.
function badCases() {
  const wav = bytesOf('wav_pcm16_mono_16k_1s.wav');
  const ogg = bytesOf('ogg_opus_1s.ogg');
  const webm = bytesOf('webm_opus_1s.webm');
  const hugeData = new Uint8Array(wav);
  new DataView(hugeData.buffer).setUint32(indexOf(wav, 'data') + 4, 0x7ffffff0, true);
  const page1 = 27 + ogg[26] + ogg.subarray(27, 27 + ogg[26]).reduce((a, b) => a + b, 0);
  let state = 7;
  const random = new Uint8Array(4096).map(() => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state >>> 24;
  });
  const docType = new Uint8Array(webm);
  docType.set(Buffer.from('mkv!'), indexOf(webm, 'webm'));
  return [
    ['empty', new Uint8Array(0), undefined, 'invalid_field', 'audio is empty (0 bytes)'],
    ['a cut WAV header', wav.subarray(0, 30), undefined, 'invalid_field', 'is a truncated WAV'],
    ['a cut Ogg page', ogg.subarray(0, page1 + 20), undefined, 'invalid_field', 'is a truncated Ogg'],
    ['a cut WebM header', webm.subarray(0, 40), undefined, 'invalid_field', 'is a truncated WebM'],
    ['a cut MP3 frame', bytesOf('mp3_cbr_32k_notag_1s.mp3').subarray(0, 100), undefined, 'invalid_field', 'is a truncated MP3'],
    ['a WAV claiming a 2 GiB data chunk', hugeData, undefined, 'invalid_field', "chunk 'data' at offset 36 is 2147483632 bytes, past the end of the RIFF data"],
    ['an Ogg page without its capture pattern', withByte(ogg, page1 + 3, 0x58), undefined, 'invalid_field', "expected the capture pattern 'OggS' of page 1"],
    ['an EBML file of another DocType', docType, undefined, 'invalid_field', "is an EBML file of DocType 'mkv!', not webm or matroska"],
    ['random bytes', random, undefined, 'invalid_field', 'has an unknown signature'],
    ['a PNG', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), undefined, 'invalid_field', 'has an unknown signature'],
    ['an Ogg declared as WAV', ogg, { mimeType: 'audio/wav' }, 'invalid_field', 'audio is audio/ogg but was declared audio/wav'],
    ['a WAV declared as audio/mp3', wav, { mimeType: 'audio/mp3' }, 'invalid_field', "was declared 'audio/mp3', which is not one of"],
    ['an empty declared type', wav, { mimeType: '' }, 'invalid_field', 'which is not one of'],
    ['a 301 s WAV', bytesOf('wav_u8_100hz_301s.wav'), { mimeType: 'audio/wav' }, 'too_large', 'is 301000 ms long, over the limit of 300000 ms'],
    ['a 301 s MP3', bytesOf('mp3_vbr_xing_301s_head.mp3'), { mimeType: 'audio/mpeg' }, 'too_large', 'over the limit of 300000 ms'],
    ['11 MiB', new Uint8Array(11 << 20), { mimeType: 'audio/wav' }, 'too_large', 'is 11534336 bytes, over the limit of 10485760 bytes'],
  ];
}

describe.each(builds)('sniffAudio (%s)', (_name, cw) => {
  test.each(audio.map((e) => [e.file, e]))('%s: its type and duration', (_n, e) => {
    const r = cw.sniffAudio(bytesOf(e.file));
    expect(r.mimeType).toBe(e.mimeType);
    if (e.durationMs === null) {
      expect(r.durationMs).toBeNull();
    } else {
      expect(Math.abs(r.durationMs - e.durationMs)).toBeLessThanOrEqual(10);
    }
  });

  test.each(audio.map((e) => [e.file, e]))('%s: accepted only as its own type', (_n, e) => {
    for (const mimeType of TYPES) {
      const r = outcome(cw, bytesOf(e.file), { mimeType });
      if (mimeType !== e.mimeType) {
        expect(r).toMatchObject({ ok: false, code: 'invalid_field' });
        expect(r.message).toBe(`audio is ${e.mimeType} but was declared ${mimeType}`);
      } else if (e.durationMs > 300000) {
        expect(r).toMatchObject({ ok: false, code: 'too_large' });
      } else {
        expect(r).toMatchObject({ ok: true, mimeType: e.mimeType });
      }
    }
  });

  test.each(badCases().map((c) => [c[0], c]))('%s is refused', (_n, [, bytes, options, code, text]) => {
    const r = outcome(cw, bytes, options);
    expect(r).toMatchObject({ ok: false, code });
    expect(r.message).toContain(text);
  });

  test('arguments that are not bytes or options are TypeErrors', () => {
    expect(() => cw.sniffAudio('RIFF')).toThrow(TypeError);
    expect(() => cw.sniffAudio(new Uint8Array(4), { mimeType: 7 })).toThrow(/options.mimeType/);
    expect(() => cw.sniffAudio(new Uint8Array(4), null)).toThrow(/options/);
  });

  test('limits name the audio limits with their defaults', () => {
    expect(cw.codec.limits()).toMatchObject({ maxAudioBytes: 10 * 1024 * 1024, maxAudioDurationMs: 300000 });
  });
});

test('both builds give identical answers for every fixture, prefix and bad case', () => {
  const inputs = [];
  for (const e of audio) {
    const bytes = bytesOf(e.file);
    inputs.push([bytes, undefined]);
    for (const mimeType of [...TYPES, 'audio/mp3']) inputs.push([bytes, { mimeType }]);
    // Prefixes: every length through the headers, then a spread to the end.
    for (let n = 1; n < bytes.length; n += n < 300 ? 1 : 97) inputs.push([bytes.subarray(0, n), undefined]);
  }
  for (const [, bytes, options] of badCases()) inputs.push([bytes, options]);
  let refused = 0;
  for (const [bytes, options] of inputs) {
    const a = outcome(node, bytes, options);
    expect(outcome(wasm, bytes, options)).toEqual(a);
    if (!a.ok) refused += 1;
  }
  expect(refused).toBeGreaterThan(1000);
  expect(inputs.length - refused).toBeGreaterThan(50);
});
