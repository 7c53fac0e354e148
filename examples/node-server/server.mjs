// The example backend: a ChatServer whose handler shows every part of a turn.
// `npm start` runs it (examples/start.mjs); run it alone with
//   node examples/node-server/server.mjs [port]
// It is a deterministic stand-in for a model: replace `compose()` (the text)
// and `analyzeImage()` (the vision part) with your own; the plumbing stays.
//
// What a message triggers (case-insensitive, whole words):
//   every message    thinking steps ("Analyzing your request...", ...), a typing
//                    indicator (automatic), and the reply streamed as deltas
//   images           per image: status processing -> analyzed, and an analysis
//                    COMPUTED FROM THE IMAGE (dimensions, orientation, average
//                    colour, brightness, contrast, file size; see image-stats.mjs)
//   time, clock      calls the client tool `getLocalTime` if the client declared it
//   where, location  calls the client tool `getLocation` if the client declared it
//   form, remind, reminder, schedule, book
//                    sends a `form` component (a reminder form); its submit
//                    reaches onComponentAction and the next reply confirms it
//   docs, documentation, source, sources, cite, citation, citations
//                    adds citations from EXAMPLE_DOCUMENTS below: fake documents,
//                    labelled as such in their filenames and in the reply
//   stop (from the UI's stop button, i.e. client.cancel): the stream ends and the
//                    reply is marked cancelled
import { ChatServer } from 'chatwire';
import { fileURLToPath } from 'node:url';
import { imageStats } from './image-stats.mjs';

// Waits `ms`, or less when the client cancels the reply.
const sleep = (ms, signal) => new Promise((resolve) => {
  const done = () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', done);
    resolve();
  };
  const timer = setTimeout(done, ms);
  signal?.addEventListener('abort', done, { once: true });
});

const has = (text, words) => new RegExp(`\\b(${words.join('|')})\\b`, 'i').test(text);
const TRIGGERS = {
  time: ['time', 'clock'],
  location: ['where', 'location'],
  form: ['form', 'remind', 'reminder', 'schedule', 'book'],
  citations: ['docs', 'documentation', 'source', 'sources', 'cite', 'citation', 'citations'],
};

// ------------------------------------------------------------------ image analysis

const round = (x, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const hex = (rgb) => `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

function colourName([r, g, b]) {
  const max = Math.max(r, g, b) / 255;
  const min = Math.min(r, g, b) / 255;
  const l = (max + min) / 2;
  const s = max === min ? 0 : (max - min) / (1 - Math.abs(2 * l - 1));
  if (s < 0.12 || max - min < 0.06) {
    if (l < 0.15) return 'black';
    if (l < 0.4) return 'dark grey';
    if (l < 0.7) return 'grey';
    if (l < 0.9) return 'light grey';
    return 'white';
  }
  const d = max - min;
  let h;
  if (max === r / 255) h = 60 * (((g - b) / 255 / d) % 6);
  else if (max === g / 255) h = 60 * ((b - r) / 255 / d + 2);
  else h = 60 * ((r - g) / 255 / d + 4);
  if (h < 0) h += 360;
  let name = h < 15 || h >= 345 ? 'red' : h < 45 ? 'orange' : h < 70 ? 'yellow' : h < 160 ? 'green'
    : h < 200 ? 'cyan' : h < 255 ? 'blue' : h < 290 ? 'purple' : 'magenta';
  if (name === 'orange' && l < 0.35) name = 'brown';
  return l < 0.3 ? `dark ${name}` : l > 0.75 ? `light ${name}` : name;
}

function aspectName(w, h) {
  const ratio = Math.max(w, h) / Math.min(w, h);
  for (const [a, b] of [[1, 1], [5, 4], [4, 3], [3, 2], [16, 10], [16, 9], [2, 1], [21, 9]]) {
    if (Math.abs(ratio - a / b) / (a / b) < 0.03) return w >= h ? `${a}:${b}` : `${b}:${a}`;
  }
  return w >= h ? `${round(ratio)}:1` : `1:${round(ratio)}`;
}

function sizeName(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${round(bytes / 1024, 1)} KB`;
  return `${round(bytes / (1024 * 1024), 2)} MB`;
}

/**
 * The stand-in for a vision model: facts from the image mapped, by fixed
 * rules, into PROTOCOL.md's imageAnalysis fields. Same bytes, same analysis.
 */
export async function analyzeImage(image) {
  const f = await imageStats(image);
  const { width: w, height: h } = f;
  const short = Math.min(w, h);
  const ratio = Math.max(w, h) / Math.max(1, short);
  const orientation = w === h ? 'square' : w > h ? 'landscape' : 'portrait';
  const megapixels = (w * h) / 1e6 < 0.01 ? '<0.01' : round((w * h) / 1e6, 2);
  const bytesPerPixel = round(f.size / Math.max(1, w * h), 2);
  const p = f.pixels;

  // Category: size and shape first, then what the pixels say.
  let category;
  if (Math.max(w, h) <= 128) category = 'icon or thumbnail';
  else if (ratio >= 2.5) category = 'panorama or banner';
  else if (p && p.saturation < 0.08) category = p.brightness > 0.75 && p.contrast > 0.25 ? 'document or screenshot' : 'monochrome image';
  else if (p && p.transparentShare > 0) category = 'graphic with transparency';
  else if (f.mimeType === 'image/jpeg' || (f.mimeType === 'image/webp' && f.format[0].includes('lossy'))) category = 'photo';
  else category = 'graphic';

  // Condition: what would limit an analysis of this image.
  const issues = [];
  if (p && p.brightness < 0.25) issues.push('underexposed');
  if (p && p.brightness > 0.85) issues.push('overexposed');
  if (p && p.contrast < 0.08) issues.push('low contrast');
  if (short < 480) issues.push('low resolution');
  const condition = (issues.length ? issues.join(', ') : 'good') + (p ? '' : ' (pixels not measured)');

  const features = [
    `${w}×${h} px (${megapixels} MP)`,
    `${orientation}, aspect ${aspectName(w, h)}`,
    ...f.format,
    `file size ${sizeName(f.size)} (${bytesPerPixel} bytes per pixel)`,
  ];
  if (p) {
    features.push(
      `average colour ${hex(p.averageColor)} (${colourName(p.averageColor)})`,
      `brightness ${Math.round(p.brightness * 100)}%`,
      `contrast ${Math.round(p.contrast * 100)}%`,
      `saturation ${Math.round(p.saturation * 100)}%`,
    );
    if (p.transparentShare > 0) features.push(`${Math.round(p.transparentShare * 100)}% of pixels transparent or translucent`);
  }

  const recommendations = [];
  if (issues.includes('underexposed')) recommendations.push('Retake it with more light or a higher exposure.');
  if (issues.includes('overexposed')) recommendations.push('Retake it with less light or a lower exposure: bright areas lose detail.');
  if (issues.includes('low contrast')) recommendations.push('Increase the contrast so that edges and text stand out.');
  if (issues.includes('low resolution')) recommendations.push(`Send a larger image (at least 480 px on the short side; this one has ${short} px).`);
  if (ratio >= 2.5) recommendations.push('Crop it to the subject: very wide or tall images are hard to analyse as a whole.');
  if (f.size > 1024 * 1024 && bytesPerPixel > 1.5) {
    recommendations.push(`Compress it (e.g. JPEG quality 85 or WebP): ${bytesPerPixel} bytes per pixel is more than an analysis needs.`);
  }
  if (p && p.transparentShare > 0.5) recommendations.push('Flatten it onto a background: most of it is transparent or translucent.');
  if (!p) recommendations.push(`Pixel statistics were not computed: ${f.pixelsUnavailable}.`);
  if (!recommendations.length) recommendations.push('No changes needed: the image is fit for analysis.');

  const look = p
    ? `mostly ${colourName(p.averageColor)}, ${p.brightness < 0.25 ? 'dark' : p.brightness > 0.85 ? 'very bright' : p.brightness > 0.6 ? 'bright' : 'of medium brightness'}, ` +
      `${p.contrast < 0.08 ? 'flat' : p.contrast > 0.25 ? 'high-contrast' : 'moderately contrasted'}`
    : `pixels not measured (${f.pixelsUnavailable})`;
  return {
    imageId: image.id,
    description: `A ${orientation} ${category}, ${w}×${h} px, ${f.format[0]}, ${sizeName(f.size)}; ${look}.`,
    category,
    condition,
    features,
    recommendations,
  };
}

// ------------------------------------------------------------------ citations (fake documents)

// EXAMPLE documents, not real sources: they exist so a UI can show citations.
// A query cites the documents sharing most words with it (ties by order).
export const EXAMPLE_DOCUMENTS = [
  { documentId: 'example-doc-protocol', filename: 'EXAMPLE (fake) - chatwire protocol notes.pdf',
    words: ['protocol', 'frame', 'message', 'seq', 'reconnect', 'resume', 'replay', 'delta', 'docs'], pages: [3, 4] },
  { documentId: 'example-doc-images', filename: 'EXAMPLE (fake) - image guidelines.pdf',
    words: ['image', 'images', 'photo', 'png', 'jpeg', 'webp', 'gif', 'analysis', 'colour', 'color'], pages: [1, 2] },
  { documentId: 'example-doc-tools', filename: 'EXAMPLE (fake) - client tools handbook.pdf',
    words: ['tool', 'tools', 'time', 'location', 'form', 'component', 'reminder', 'cancel'], pages: [7, 9] },
];

export function citationsFor(text) {
  const words = new Set(text.toLowerCase().match(/[a-z]+/g) ?? []);
  const scored = EXAMPLE_DOCUMENTS.map((d, i) => ({ d, i, hits: d.words.filter((w) => words.has(w)).length }));
  scored.sort((a, b) => b.hits - a.hits || a.i - b.i);
  return scored.slice(0, 2).map(({ d, hits }) => ({
    documentId: d.documentId,
    chunkId: `${d.documentId}#p${d.pages[0]}`,
    filename: d.filename,
    pageStart: d.pages[0],
    pageEnd: d.pages[1],
    score: round(Math.min(0.99, 0.5 + hits / (2 * d.words.length)), 2),
  }));
}

// ------------------------------------------------------------------ the reply text

// A stand-in for a model: the reply text from what the turn found out.
function compose(msg, { analyses, toolResults, form, citations, saved }) {
  const words = msg.content.trim().split(/\s+/).filter(Boolean).length;
  const parts = [];
  if (saved) parts.push(`Your form was received (${saved}).`);
  parts.push(msg.content.trim()
    ? `You wrote ${words} word${words === 1 ? '' : 's'}.`
    : 'You sent no text.');
  analyses.forEach((a, i) => parts.push(`Image ${i + 1}: ${a.description}`));
  for (const t of toolResults) parts.push(t);
  if (form) parts.push('Fill in the form below to set a reminder.');
  if (citations.length) {
    parts.push(`Sources: ${citations.map((c) => c.filename).join('; ')} (example documents, not real sources).`);
  }
  parts.push('This reply is streamed piece by piece by the example server; ' +
    'replace compose() in examples/node-server/server.mjs with your model.');
  return parts.join(' ');
}

async function askTool(msg, reply, name, args) {
  if (!msg.tools.some((t) => t.name === name)) {
    return `I would call the client tool ${name}, but this client did not declare it.`;
  }
  reply.thinking(`Asking your device (${name})...`);
  try {
    const result = await reply.callTool(name, args, { timeoutMs: 10000 });
    return `${name} answered ${JSON.stringify(result)}.`;
  } catch (err) {
    return `${name} failed: ${err.message}.`;
  }
}

/** Creates (does not start) the example server. */
export function createExampleServer({ host = '127.0.0.1', port = 8080, database = ':memory:', stepMs = 120 } = {}) {
  const server = new ChatServer({ host, port, database });
  const savedForms = new Map();  // conversationId -> what the last form submit said

  server.onMessage(async (msg, reply) => {
    const { signal } = reply;
    const text = msg.content;
    reply.thinking('Analyzing your request...');
    await sleep(stepMs, signal);

    const analyses = [];
    for (const [i, img] of msg.images.entries()) {
      if (signal.aborted) break;
      reply.imageStatus(img.id, 'processing');
      reply.thinking(`Looking at image ${i + 1} of ${msg.images.length}...`);
      analyses.push(await analyzeImage(img));
      await sleep(stepMs, signal);
      if (!signal.aborted) reply.imageStatus(img.id, 'analyzed');
    }

    const toolResults = [];
    if (!signal.aborted && has(text, TRIGGERS.time)) toolResults.push(await askTool(msg, reply, 'getLocalTime', {}));
    if (!signal.aborted && has(text, TRIGGERS.location)) toolResults.push(await askTool(msg, reply, 'getLocation', {}));

    const form = !signal.aborted && has(text, TRIGGERS.form);
    if (form) {
      reply.component('form', {
        title: 'Set a reminder',
        submitLabel: 'Save',
        fields: [
          { name: 'time', label: 'Time', type: 'time', required: true },
          { name: 'note', label: 'Note', type: 'text' },
        ],
      });
    }
    const citations = has(text, TRIGGERS.citations) ? citationsFor(text) : [];
    const saved = savedForms.get(msg.conversationId);
    savedForms.delete(msg.conversationId);

    reply.thinking('Preparing the answer...');
    await sleep(stepMs, signal);
    const answer = compose(msg, { analyses, toolResults, form, citations, saved });
    for (const piece of answer.split(/(?<= )/)) {
      if (signal.aborted) break;
      reply.delta(piece);
      await sleep(stepMs / 4, signal);
    }
    // After a cancel the core sends the text streamed so far with cancelled:true.
    await reply.respond({
      content: answer,
      imageAnalysis: analyses.length ? analyses : undefined,
      citations: citations.length ? citations : undefined,
    });
  });

  server.onComponentAction(async (action) => {
    const values = Object.entries(action.values ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ');
    savedForms.set(action.conversationId, `${action.action}${values ? ` with ${values}` : ''}`);
  });
  server.on('error', (err) => console.error('example server:', err));
  return server;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = createExampleServer({ port: Number(process.argv[2] ?? 8080) });
  await server.listen();
  console.log(`chatwire example server on ws://127.0.0.1:${server.port}/ws/chat`);
  process.once('SIGINT', async () => { await server.close(); process.exit(0); });
}
