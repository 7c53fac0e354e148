// The example backend's imageStats (examples/node-server/image-stats.mjs)
// decodes pixels of files chatwire accepted; issue 14.7 found it spending
// 2.1 GB on a 1 MiB PNG and 321 MB / 7 s on a 99 KiB GIF. Each bomb runs in
// a child process whose peak RSS (VmHWM from /proc) is the measure.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const STATS = path.join(__dirname, '../../examples/node-server/image-stats.mjs');
const MiB = 1024 * 1024;
let dir;

// Runs imageStats on `file` declared as mimeType width x height in a fresh
// node; resolves { ms, peakMiB, stats }.
function measure(file, mimeType, width, height) {
  const script = `
    import fs from 'node:fs';
    const { imageStats } = await import(${JSON.stringify(STATS)});
    const data = new Uint8Array(fs.readFileSync(process.argv[1]));
    const start = performance.now();
    const stats = await imageStats({ mimeType: process.argv[2], width: +process.argv[3], height: +process.argv[4], size: data.length, data });
    const ms = Math.round(performance.now() - start);
    const hwm = /VmHWM:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
    console.log(JSON.stringify({ ms, peakMiB: Math.round(hwm / 1024), stats }));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script, file, mimeType, String(width), String(height)],
      { timeout: 60000, maxBuffer: 16 * MiB }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`child failed: ${err.message}\n${stderr}`));
        resolve(JSON.parse(stdout));
      });
  });
}

function pngChunk(type, payload) {
  const b = Buffer.alloc(12 + payload.length);
  b.writeUInt32BE(payload.length, 0);
  b.write(type, 4, 'latin1');
  payload.copy(b, 8);
  b.writeUInt32BE(crc32(b.subarray(4, 8 + payload.length)), 8 + payload.length);
  return b;
}

function crc32(buf) {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

// zlib of `total` zero bytes, streamed (never `total` bytes in memory).
function deflateZeros(total) {
  return new Promise((resolve) => {
    const d = zlib.createDeflate({ level: 9 });
    const parts = [];
    d.on('data', (c) => parts.push(c));
    d.on('end', () => resolve(Buffer.concat(parts)));
    const zero = Buffer.alloc(MiB);
    let left = total / MiB;
    const write = () => {
      while (left > 0) {
        left--;
        if (!d.write(zero)) return d.once('drain', write);
      }
      d.end();
    };
    write();
  });
}

// LZW data (minimum code size 2) for `pixels` zeros: each code one zero longer
// than the last until the table is full, then the longest (4091 zeros) again
// and again, 12 bits each. A few KiB per 10^7 pixels.
function lzwZeros(pixels) {
  const bytes = [];
  let acc = 0;
  let bits = 0;
  const emit = (code, size) => {
    acc |= code << bits;
    bits += size;
    while (bits >= 8) { bytes.push(acc & 255); acc >>>= 8; bits -= 8; }
  };
  let size = 3;
  let next = 6;
  emit(4, size);  // clear
  emit(0, size);
  for (let out = 1; out < pixels;) {
    if (next < 4096) {
      emit(next, size);
      out += next - 4;
      next++;
      if (next === 1 << size && size < 12) size++;
    } else {
      emit(4095, size);
      out += 4091;
    }
  }
  emit(5, size);  // end
  if (bits > 0) bytes.push(acc & 255);
  const blocks = [2];
  for (let i = 0; i < bytes.length; i += 255) {
    const part = bytes.slice(i, i + 255);
    blocks.push(part.length, ...part);
  }
  blocks.push(0);
  return Buffer.from(blocks);
}

// A GIF: screen sw x sh with a 4-colour table, one frame w x h at (0,0) of `pixels` zeros.
function gifBomb(sw, sh, w, h, pixels) {
  const head = Buffer.alloc(13 + 12 + 10);
  head.write('GIF89a', 0, 'latin1');
  head.writeUInt16LE(sw, 6);
  head.writeUInt16LE(sh, 8);
  head[10] = 0x81;  // global table of 4 colours
  Buffer.from([255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255]).copy(head, 13);
  head[25] = 0x2c;
  head.writeUInt16LE(w, 30);
  head.writeUInt16LE(h, 32);
  return Buffer.concat([head, lzwZeros(pixels), Buffer.from([0x3b])]);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-image-stats-'));
  // Issue 14.7: a PNG declaring 1x1 whose image data inflates to 1 GiB.
  const idat = await deflateZeros(1024 * MiB);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  fs.writeFileSync(path.join(dir, 'bomb.png'), Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]));
  // Issue 14.7's GIF: an 8192x8192 screen, a 16384x16384 frame of 2^28 zeros.
  fs.writeFileSync(path.join(dir, 'outside.gif'), gifBomb(8192, 8192, 16384, 16384, 16384 * 16384));
  // A frame inside its 8192x8192 screen that decodes to 2^26 pixels.
  fs.writeFileSync(path.join(dir, 'inside.gif'), gifBomb(8192, 8192, 8192, 8192, 8192 * 8192));
}, 60000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('a 1 MiB PNG declaring 1x1 that inflates to 1 GiB: refused after its first output, in bounded memory', async () => {
  const file = path.join(dir, 'bomb.png');
  expect(fs.statSync(file).size).toBeLessThan(1.1 * MiB);
  const r = await measure(file, 'image/png', 1, 1);
  console.log(`PNG bomb (${fs.statSync(file).size} bytes -> 1 GiB): ${r.ms} ms, peak RSS ${r.peakMiB} MiB`);
  expect(r.stats.pixels).toBeNull();
  expect(r.stats.pixelsUnavailable).toMatch(/inflates past the 5 bytes a 1x1 PNG has/);
  expect(r.peakMiB).toBeLessThan(150);
}, 90000);

test('a GIF whose frame is 16384x16384 on an 8192x8192 screen is not decoded', async () => {
  const file = path.join(dir, 'outside.gif');
  const r = await measure(file, 'image/gif', 8192, 8192);
  console.log(`GIF, frame outside the screen (${fs.statSync(file).size} bytes): ${r.ms} ms, peak RSS ${r.peakMiB} MiB`);
  expect(r.stats.pixels).toBeNull();
  expect(r.stats.pixelsUnavailable).toMatch(/frame 1 is 16384x16384 at \(0,0\), outside the 8192x8192 screen/);
  expect(r.peakMiB).toBeLessThan(150);
}, 90000);

test('a GIF bomb inside its 8192x8192 screen: decoded up to the budget, sampled, in bounded memory', async () => {
  const file = path.join(dir, 'inside.gif');
  const r = await measure(file, 'image/gif', 8192, 8192);
  console.log(`GIF bomb inside the screen (${fs.statSync(file).size} bytes -> 8192x8192): ${r.ms} ms, peak RSS ${r.peakMiB} MiB`);
  expect(r.stats.pixels.averageColor).toEqual([255, 255, 255]);  // colour 0 of the table
  expect(r.stats.pixels.pixelsRead).toBeLessThanOrEqual(256 * 256);
  expect(r.stats.format).toContain('pixels measured in the first 2048 of 8192 rows (decode budget)');
  expect(r.peakMiB).toBeLessThan(150);
}, 90000);
