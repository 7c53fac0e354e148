// Facts about an image computed from its bytes, for the example backend's
// stand-in "analysis" (server.mjs turns them into description, category,
// condition, features and recommendations). Nothing here is canned: every
// number comes from the file.
//
// Pixel statistics (average colour, brightness, contrast, saturation,
// transparency) need the pixels:
//   PNG   decoded here with node:zlib (every colour type and bit depth, Adam7)
//   GIF   decoded here (LZW, first frame; frames are counted)
//   JPEG  decoded with the `jpeg-js` package when it is installed; without it
//         only header facts (baseline/progressive, components, EXIF)
//   WebP  header facts only (lossy/lossless, alpha, animation): no pure-JS
//         decoder is used here, and the analysis says so
//
// Decoding is bounded (issue 14.7: this is the code people copy). The sizes
// chatwire checked (image.width, image.height) are the only ones trusted:
//   - PNG is inflated as a stream, row by row, and never past the bytes its
//     declared size needs (a 1 MiB file declaring 1x1 that inflates to 1 GiB
//     stops after the first 16 KiB of output); memory is two rows.
//   - A GIF frame must lie inside the declared screen, and its LZW output is
//     counted, not stored, so it is capped at the frame's pixels.
//   - At most DECODE_BUDGET bytes (PNG) or pixels (GIF) are decoded and a
//     JPEG over it is not decoded at all: past it the statistics cover the
//     top of the image and `format` says so.
//   - Statistics read at most about SAMPLE_PIXELS pixels, spread evenly.
import { createInflate } from 'node:zlib';

export const DECODE_BUDGET = 16 * 1024 * 1024;  // PNG bytes inflated, GIF pixels decoded, JPEG pixels
const SAMPLE_SIDE = 256;                        // statistics read about SAMPLE_SIDE^2 pixels per image

let jpegJs;  // undefined: not tried yet; null: not installed
async function loadJpegJs() {
  if (jpegJs === undefined) {
    try {
      const mod = await import('jpeg-js');
      jpegJs = mod.default ?? mod;
    } catch {
      jpegJs = null;
    }
  }
  return jpegJs;
}

// ------------------------------------------------------------------ pixel statistics

/** Accumulates pixel statistics over RGBA samples (0..255). */
class PixelStats {
  count = 0;
  opaque = 0;      // alpha > 0
  transparent = 0; // alpha < 255
  r = 0; g = 0; b = 0;
  luma = 0; luma2 = 0;
  sat = 0;

  add(r, g, b, a = 255) {
    this.count++;
    if (a < 255) this.transparent++;
    if (a === 0) return;
    this.opaque++;
    this.r += r; this.g += g; this.b += b;
    const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;  // Rec. 709 luma
    this.luma += y;
    this.luma2 += y * y;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    this.sat += max === 0 ? 0 : (max - min) / max;
  }

  result() {
    const n = this.opaque || 1;
    const mean = this.luma / n;
    return {
      pixelsRead: this.count,
      averageColor: [Math.round(this.r / n), Math.round(this.g / n), Math.round(this.b / n)],
      brightness: Math.round((mean / 255) * 1000) / 1000,                            // 0..1
      contrast: Math.round((Math.sqrt(Math.max(0, this.luma2 / n - mean * mean)) / 255) * 1000) / 1000, // luma std dev, 0..~0.5
      saturation: Math.round((this.sat / n) * 1000) / 1000,                         // 0..1
      transparentShare: this.count ? Math.round((this.transparent / this.count) * 1000) / 1000 : 0,
    };
  }
}

// ------------------------------------------------------------------ PNG

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

function unfilter(line, prev, filter, bpp) {
  for (let i = 0; i < line.length; i++) {
    const a = i >= bpp ? line[i - bpp] : 0;
    const b = prev[i];
    const c = i >= bpp ? prev[i - bpp] : 0;
    if (filter === 1) line[i] = (line[i] + a) & 255;
    else if (filter === 2) line[i] = (line[i] + b) & 255;
    else if (filter === 3) line[i] = (line[i] + ((a + b) >> 1)) & 255;
    else if (filter === 4) line[i] = (line[i] + paeth(a, b, c)) & 255;
  }
}

async function decodePng(bytes, declared) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let ihdr = null;
  let palette = null;
  let trns = null;
  const idat = [];
  while (pos + 12 <= bytes.length) {
    const len = view.getUint32(pos);
    if (pos + 12 + len > bytes.length) break;
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR' && len >= 13) {
      ihdr = { width: view.getUint32(pos + 8), height: view.getUint32(pos + 12), depth: data[8], colorType: data[9], interlace: data[12] };
    } else if (type === 'PLTE') {
      palette = data;
    } else if (type === 'tRNS') {
      trns = data;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    pos += 12 + len;
  }
  if (!ihdr) throw new Error('no IHDR');
  const { width, height, depth, colorType, interlace } = ihdr;
  if (width !== declared.width || height !== declared.height) {
    throw new Error(`IHDR says ${width}x${height}, the image was checked as ${declared.width}x${declared.height}`);
  }
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  if (!channels) throw new Error(`colour type ${colorType}`);
  const bitsPerPixel = channels * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const max = (1 << depth) - 1;
  const stats = new PixelStats();
  // tRNS: a palette alpha table, or one transparent grey / RGB value.
  const trnsGray = colorType === 0 && trns?.length >= 2 ? (trns[0] << 8) | trns[1] : -1;
  const trnsRgb = colorType === 2 && trns?.length >= 6
    ? [(trns[0] << 8) | trns[1], (trns[2] << 8) | trns[3], (trns[4] << 8) | trns[5]] : null;

  // The rows the declared size has (per Adam7 pass), and so the exact number
  // of bytes the image data must inflate to.
  const passes = (interlace === 1 ? ADAM7 : [[0, 0, 1, 1]])
    .map(([xs, ys, dx, dy]) => ({ w: Math.ceil(Math.max(0, width - xs) / dx), h: Math.ceil(Math.max(0, height - ys) / dy) }))
    .filter((p) => p.w > 0 && p.h > 0)
    .map((p) => ({ ...p, stride: Math.ceil((p.w * bitsPerPixel) / 8) }));
  const expected = passes.reduce((sum, p) => sum + p.h * (1 + p.stride), 0);

  const measureRow = (line, w, stepX) => {
    const sample = (k) => {  // k-th sample of the line, 0..max
      if (depth === 8) return line[k];
      if (depth === 16) return (line[2 * k] << 8) | line[2 * k + 1];
      const bit = k * depth;
      return (line[bit >> 3] >> (8 - depth - (bit & 7))) & max;
    };
    const to8 = (v) => (depth === 8 ? v : Math.round((v * 255) / max));
    for (let x = 0; x < w; x += stepX) {
      const s = x * channels;
      if (colorType === 0) {
        const v = sample(s);
        stats.add(to8(v), to8(v), to8(v), v === trnsGray ? 0 : 255);
      } else if (colorType === 2) {
        const r = sample(s); const g = sample(s + 1); const b = sample(s + 2);
        const t = trnsRgb && r === trnsRgb[0] && g === trnsRgb[1] && b === trnsRgb[2];
        stats.add(to8(r), to8(g), to8(b), t ? 0 : 255);
      } else if (colorType === 3) {
        const i = sample(s);
        const p = palette && 3 * i + 2 < palette.length ? i * 3 : 0;
        stats.add(palette?.[p] ?? 0, palette?.[p + 1] ?? 0, palette?.[p + 2] ?? 0, trns && i < trns.length ? trns[i] : 255);
      } else if (colorType === 4) {
        stats.add(to8(sample(s)), to8(sample(s)), to8(sample(s)), to8(sample(s + 1)));
      } else {
        stats.add(to8(sample(s)), to8(sample(s + 1)), to8(sample(s + 2)), to8(sample(s + 3)));
      }
    }
  };

  // Inflate as a stream and unfilter row by row: memory is two rows and one
  // output chunk, whatever the data inflates to.
  let pi = 0;
  let y = 0;
  let filter = -1;
  let fill = 0;
  let line = new Uint8Array(passes[0]?.stride ?? 0);
  let prev = new Uint8Array(line.length);
  let inflated = 0;
  let rows = 0;
  let cut = false;
  const inflater = createInflate();
  inflater.end(Buffer.concat(idat.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength))));
  for await (const chunk of inflater) {
    inflated += chunk.length;
    if (inflated > expected) {
      throw new Error(`the image data inflates past the ${expected} bytes a ${width}x${height} PNG has`);
    }
    if (inflated > DECODE_BUDGET) { cut = true; break; }
    for (let i = 0; i < chunk.length && pi < passes.length;) {
      const p = passes[pi];
      if (filter < 0) {
        filter = chunk[i++];
        if (filter > 4) throw new Error(`row filter ${filter}`);
        continue;
      }
      const take = Math.min(p.stride - fill, chunk.length - i);
      line.set(chunk.subarray(i, i + take), fill);
      fill += take;
      i += take;
      if (fill < p.stride) continue;
      unfilter(line, prev, filter, bpp);
      const stepY = Math.ceil(p.h / SAMPLE_SIDE);
      if (y % stepY === 0) measureRow(line, p.w, Math.ceil(p.w / SAMPLE_SIDE));
      [line, prev] = [prev, line];
      filter = -1;
      fill = 0;
      rows++;
      if (++y === p.h && ++pi < passes.length) {
        y = 0;
        line = new Uint8Array(passes[pi].stride);
        prev = new Uint8Array(passes[pi].stride);
      }
    }
  }
  if (!cut && pi < passes.length) throw new Error(`the image data ends after ${rows} rows`);
  const kind = { 0: 'greyscale', 2: 'RGB', 3: 'palette', 4: 'greyscale with alpha', 6: 'RGBA' }[colorType];
  const totalRows = passes.reduce((sum, p) => sum + p.h, 0);
  return {
    pixels: stats.result(),
    format: [`PNG, ${kind}, ${depth}-bit`, ...(interlace ? ['interlaced (Adam7)'] : []),
      ...(cut ? [`pixels measured in the first ${rows} of ${totalRows} rows (decode budget)`] : [])],
  };
}

// ------------------------------------------------------------------ GIF

// Decodes at most `pixelCount` colour indices and hands every `step`-th to
// visit(index): nothing is stored, so memory does not grow with the frame.
function lzwDecode(data, minCodeSize, pixelCount, step, visit) {
  const clear = 1 << minCodeSize;
  const end = clear + 1;
  const prefix = new Int16Array(4096);
  const suffix = new Uint8Array(4096);
  const first = new Uint8Array(4096);
  const stack = new Uint8Array(4097);
  let size = minCodeSize + 1;
  let next = end + 1;
  let old = -1;
  let bits = 0;
  let acc = 0;
  let n = 0;
  for (let i = 0; i < clear; i++) { prefix[i] = -1; suffix[i] = i; first[i] = i; }
  for (let i = 0; i < data.length && n < pixelCount; i++) {
    acc |= data[i] << bits;
    bits += 8;
    while (bits >= size && n < pixelCount) {
      const code = acc & ((1 << size) - 1);
      acc >>>= size;
      bits -= size;
      if (code === clear) { size = minCodeSize + 1; next = end + 1; old = -1; continue; }
      if (code === end) return n;
      let c = code;
      let top = 0;
      if (old === -1) {
        if (n % step === 0) visit(suffix[code]);
        n++;
        old = code;
        continue;
      }
      if (code >= next) {  // the KwKwK case
        stack[top++] = first[old];
        c = old;
      }
      while (c >= clear && top < 4096) { stack[top++] = suffix[c]; c = prefix[c]; }
      stack[top++] = suffix[c];
      if (next < 4096) {
        prefix[next] = old;
        suffix[next] = suffix[c];
        first[next] = first[old];
        next++;
        if (next === 1 << size && size < 12) size++;
      }
      while (top > 0 && n < pixelCount) {
        const v = stack[--top];
        if (n % step === 0) visit(v);
        n++;
      }
      old = code;
    }
  }
  return n;
}

function decodeGif(bytes, declared) {
  let pos = 13;
  const screenW = bytes[6] | (bytes[7] << 8);
  const screenH = bytes[8] | (bytes[9] << 8);
  if (screenW !== declared.width || screenH !== declared.height) {
    throw new Error(`the screen is ${screenW}x${screenH}, the image was checked as ${declared.width}x${declared.height}`);
  }
  const flags = bytes[10];
  let globalTable = null;
  if (flags & 0x80) {
    const size = 3 * (1 << ((flags & 7) + 1));
    globalTable = bytes.subarray(pos, pos + size);
    pos += size;
  }
  let frames = 0;
  let transparentIndex = -1;
  let pixels = null;
  let budgetNote = null;
  const subBlocks = () => {
    const parts = [];
    while (pos < bytes.length && bytes[pos] !== 0) {
      parts.push(bytes.subarray(pos + 1, pos + 1 + bytes[pos]));
      pos += 1 + bytes[pos];
    }
    pos++;
    return parts;
  };
  while (pos < bytes.length) {
    const block = bytes[pos++];
    if (block === 0x3b) break;  // trailer
    if (block === 0x21) {
      const label = bytes[pos++];
      const parts = subBlocks();
      if (label === 0xf9 && parts[0]?.length >= 4 && !pixels) transparentIndex = parts[0][0] & 1 ? parts[0][3] : -1;
    } else if (block === 0x2c) {
      const left = bytes[pos] | (bytes[pos + 1] << 8);
      const top = bytes[pos + 2] | (bytes[pos + 3] << 8);
      const w = bytes[pos + 4] | (bytes[pos + 5] << 8);
      const h = bytes[pos + 6] | (bytes[pos + 7] << 8);
      const f = bytes[pos + 8];
      if (left + w > screenW || top + h > screenH) {
        throw new Error(`frame ${frames + 1} is ${w}x${h} at (${left},${top}), outside the ${screenW}x${screenH} screen`);
      }
      pos += 9;
      let table = globalTable;
      if (f & 0x80) {
        const size = 3 * (1 << ((f & 7) + 1));
        table = bytes.subarray(pos, pos + size);
        pos += size;
      }
      const minCode = bytes[pos++];
      if (!(minCode >= 1 && minCode <= 11)) throw new Error(`LZW minimum code size ${minCode}`);
      const parts = subBlocks();
      frames++;
      if (!pixels) {
        const data = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
        let o = 0;
        for (const p of parts) { data.set(p, o); o += p.length; }
        const count = Math.min(w * h, DECODE_BUDGET);
        const stepX = Math.ceil(w / SAMPLE_SIDE);
        const stepY = Math.ceil(h / SAMPLE_SIDE);
        const stats = new PixelStats();
        let seen = 0;  // pixels visited, to know the row and column of each
        const decoded = lzwDecode(data, minCode, count, 1, (i) => {
          const x = seen % w;
          const y = (seen - x) / w;
          seen++;
          if (x % stepX !== 0 || y % stepY !== 0) return;
          stats.add(table?.[3 * i] ?? 0, table?.[3 * i + 1] ?? 0, table?.[3 * i + 2] ?? 0, i === transparentIndex ? 0 : 255);
        });
        if (count < w * h && decoded === count) budgetNote = `pixels measured in the first ${Math.floor(count / w)} of ${h} rows (decode budget)`;
        pixels = stats.result();
      }
    } else {
      break;  // not a GIF block: stop reading
    }
  }
  const version = String.fromCharCode(...bytes.subarray(3, 6));
  return {
    pixels,
    format: [`GIF${version}`, frames > 1 ? `animated, ${frames} frames (first frame measured)` : 'single frame',
      ...(budgetNote ? [budgetNote] : [])],
  };
}

// ------------------------------------------------------------------ JPEG and WebP headers

function jpegHeader(bytes) {
  const facts = [];
  let pos = 2;
  while (pos + 4 <= bytes.length && bytes[pos] === 0xff) {
    const marker = bytes[pos + 1];
    if (marker === 0xff) { pos++; continue; }
    const len = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (marker === 0xe1 && String.fromCharCode(...bytes.subarray(pos + 4, pos + 8)) === 'Exif') facts.push('EXIF metadata');
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const comps = bytes[pos + 9] ?? 0;
      facts.unshift(`JPEG, ${marker === 0xc2 || marker === 0xc6 ? 'progressive' : 'baseline'}, ${comps === 1 ? 'greyscale' : `${comps} components`}`);
      break;
    }
    pos += 2 + len;
  }
  return facts.length ? facts : ['JPEG'];
}

function webpHeader(bytes) {
  const chunk = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunk === 'VP8 ') return ['WebP, lossy (VP8)'];
  if (chunk === 'VP8L') return ['WebP, lossless (VP8L)'];
  if (chunk === 'VP8X') {
    const f = bytes[20];
    const facts = ['WebP, extended (VP8X)'];
    if (f & 0x10) facts.push('alpha channel');
    if (f & 0x02) facts.push('animated');
    if (f & 0x08) facts.push('EXIF metadata');
    if (f & 0x20) facts.push('ICC colour profile');
    return facts;
  }
  return ['WebP'];
}

// ------------------------------------------------------------------ entry point

/**
 * Facts about one image. `image`: the handler's incoming image
 * ({ mimeType, width, height, size, data }).
 * @returns {Promise<{ width, height, size, mimeType, format: string[],
 *   pixels: null | { pixelsRead, averageColor: [r,g,b], brightness, contrast, saturation, transparentShare },
 *   pixelsUnavailable?: string }>}
 */
export async function imageStats(image) {
  const bytes = image.data instanceof Uint8Array ? image.data : new Uint8Array(image.data ?? []);
  const base = { width: image.width, height: image.height, size: image.size ?? bytes.length, mimeType: image.mimeType };
  try {
    if (image.mimeType === 'image/png') return { ...base, ...(await decodePng(bytes, image)) };
    if (image.mimeType === 'image/gif') return { ...base, ...decodeGif(bytes, image) };
    if (image.mimeType === 'image/jpeg') {
      const format = jpegHeader(bytes);
      const jpeg = await loadJpegJs();
      if (!jpeg) return { ...base, format, pixels: null, pixelsUnavailable: 'JPEG pixels need the jpeg-js package' };
      if (image.width * image.height > DECODE_BUDGET) {
        return { ...base, format, pixels: null, pixelsUnavailable: `JPEG over the example's decode budget of ${DECODE_BUDGET} pixels` };
      }
      const decoded = jpeg.decode(bytes, {
        useTArray: true, formatAsRGBA: true, maxResolutionInMP: DECODE_BUDGET / 1e6, maxMemoryUsageInMB: 256,
      });
      const stats = new PixelStats();
      const d = decoded.data;
      const stepX = Math.ceil(decoded.width / SAMPLE_SIDE);
      const stepY = Math.ceil(decoded.height / SAMPLE_SIDE);
      for (let y = 0; y < decoded.height; y += stepY) {
        for (let x = 0; x < decoded.width; x += stepX) {
          const i = 4 * (y * decoded.width + x);
          stats.add(d[i], d[i + 1], d[i + 2], 255);
        }
      }
      return { ...base, format, pixels: stats.result() };
    }
    if (image.mimeType === 'image/webp') {
      return { ...base, format: webpHeader(bytes), pixels: null, pixelsUnavailable: 'WebP pixels are not decoded by this example (header facts only)' };
    }
  } catch (err) {
    return { ...base, format: [image.mimeType], pixels: null, pixelsUnavailable: `could not decode the pixels (${err.message})` };
  }
  return { ...base, format: [image.mimeType], pixels: null, pixelsUnavailable: 'unsupported type' };
}
