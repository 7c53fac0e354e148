// The example backend: a ChatServer whose handler shows every part of a turn.
// `npm start` runs it (examples/start.mjs); run it alone with
//   node examples/node-server/server.mjs [port]
// Replace `answer()` with your model call: everything else stays.
import { ChatServer } from 'chatwire';
import { fileURLToPath } from 'node:url';

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

// A stand-in for a model: a deterministic reply built from the message.
function answer(msg) {
  const words = msg.content.trim().split(/\s+/).filter(Boolean).length;
  const images = msg.images.length;
  const parts = [`You wrote ${words} word${words === 1 ? '' : 's'}`];
  if (images) parts.push(`and attached ${images} image${images === 1 ? '' : 's'}`);
  return `${parts.join(' ')}. This reply is streamed piece by piece by the example server; ` +
    'replace answer() in examples/node-server/server.mjs with your model.';
}

/** Creates (does not start) the example server. */
export function createExampleServer({ host = '127.0.0.1', port = 8080, database = ':memory:', stepMs = 120 } = {}) {
  const server = new ChatServer({ host, port, database });
  server.onMessage(async (msg, reply) => {
    reply.thinking('Analyzing your request...');
    await sleep(stepMs, reply.signal);
    for (const img of msg.images) reply.imageStatus(img.id, 'processing');
    reply.thinking('Preparing the answer...');
    await sleep(stepMs, reply.signal);
    const text = answer(msg);
    for (const piece of text.split(/(?<= )/)) {
      if (reply.signal.aborted) break;
      reply.delta(piece);
      await sleep(stepMs / 4, reply.signal);
    }
    for (const img of msg.images) reply.imageStatus(img.id, 'analyzed');
    await reply.respond({
      content: text,
      imageAnalysis: msg.images.map((img) => ({
        imageId: img.id,
        description: `${img.mimeType} image, ${img.width}×${img.height} px, ${img.size} bytes`,
        category: img.width >= img.height ? 'landscape' : 'portrait',
        condition: 'unknown',
        features: [`${img.width}×${img.height}`],
        recommendations: [],
      })),
    });
  });
  return server;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = createExampleServer({ port: Number(process.argv[2] ?? 8080) });
  await server.listen();
  console.log(`chatwire example server on ws://127.0.0.1:${server.port}/ws/chat`);
  process.once('SIGINT', async () => { await server.close(); process.exit(0); });
}
