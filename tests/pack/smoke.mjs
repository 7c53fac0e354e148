// Run by scripts/pack-test.sh inside an empty project that installed the packed
// tarball: chatwire as a user gets it. Every entry point the package exports
// (import and require of 'chatwire' and 'chatwire/wasm') must resolve into
// this project's node_modules and carry one message through a ChatServer on a
// free port of 127.0.0.1. The WASM client needs a global WebSocket (Node 22+,
// or Node 20 with --experimental-websocket, which pack-test.sh passes).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const installed = path.join(here, 'node_modules', 'chatwire') + path.sep;
const require = createRequire(import.meta.url);

const deadline = setTimeout(() => {
  console.error('pack smoke: no result within 30 s');
  process.exit(1);
}, 30000);

function check(ok, what) {
  if (!ok) throw new Error(`pack smoke: ${what}`);
}

async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`pack smoke: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const entries = {};
for (const spec of ['chatwire', 'chatwire/wasm']) {
  const file = require.resolve(spec);
  check(file.startsWith(installed), `require.resolve('${spec}') is ${file}, not inside ${installed}`);
  const url = import.meta.resolve(spec);
  check(fileURLToPath(url).startsWith(installed), `import.meta.resolve('${spec}') is ${url}, not inside ${installed}`);
  entries[`import('${spec}')`] = await import(spec);
  entries[`require('${spec}')`] = require(spec);
}

const { ChatServer } = entries["import('chatwire')"];
const server = new ChatServer({ host: '127.0.0.1', port: 0 });
server.onMessage(async (msg, reply) => {
  reply.delta('re: ');
  await reply.respond({ content: `re: ${msg.content}` });
});
await server.listen();
check(server.port > 0, `server.port is ${server.port}`);

try {
  for (const [name, cw] of Object.entries(entries)) {
    const started = Date.now();
    check(typeof cw.ChatClient?.create === 'function', `${name} has no ChatClient.create`);
    const client = await cw.ChatClient.create({ url: `ws://127.0.0.1:${server.port}/ws/chat`, storage: 'memory' });
    try {
      await client.connect();
      check(client.connection.status === 'open', `${name}: connection is ${client.connection.status}`);
      const id = await client.send({ content: `hello from ${name}` });
      await until(() => client.messages.find((m) => m.id === id)?.status === 'processed', 10000, `${name}: processed`);
      const answer = client.messages.find((m) => m.role === 'assistant' && m.replyTo === id);
      check(answer?.content === `re: hello from ${name}`, `${name}: reply is ${JSON.stringify(answer?.content)}`);
    } finally {
      await client.close();
    }
    console.log(`pack smoke: ${name}: one message sent, processed and answered (${Date.now() - started} ms)`);
  }
} finally {
  await server.close();
}
clearTimeout(deadline);
console.log('pack smoke: ok');
