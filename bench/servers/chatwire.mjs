// chatwire's ChatServer as a bench child: the application handler answers at
// once with the same text. Database: a real SQLite file (--db).
// --mode turn: typing indicators off (the turn is message -> confirm ->
// response, like the baselines) and the per-connection rate limit off (one
// connection runs hundreds of turns/s here; the JS options refuse 0, so 1e6). --mode product: every default.
// --reply stream: the handler streams the first 80 characters as 20
// reply.delta() calls of 4 characters, then responds with the whole text
// (the baselines do the same: lite-protocol.mjs).
import { ChatServer } from '../../js/node.mjs';
import { args, onTerm, ready, STREAM_DELTA_CHARS, STREAM_DELTAS } from './common.mjs';

const a = args();
const options = { host: '127.0.0.1', port: a.port, database: a.db };
if (a.mode === 'turn') {
  options.typingAroundHandler = false;
  options.limits = { messagesPerSecond: 1e6, messageBurst: 1e6 };
}
const server = new ChatServer(options);
if (a.reply === 'stream') {
  server.onMessage(async (msg, reply) => {
    const text = msg.content.slice(0, STREAM_DELTAS * STREAM_DELTA_CHARS);
    for (let i = 0; i < STREAM_DELTAS; i++) reply.delta(text.slice(i * STREAM_DELTA_CHARS, (i + 1) * STREAM_DELTA_CHARS));
    await reply.respond({ content: text });
  });
} else {
  server.onMessage(async (msg, reply) => {
    await reply.respond({ content: msg.content });
  });
}
server.on('error', (e) => console.error('chatwire bench server:', e));
await server.listen();
onTerm(() => server.close());
ready(server.port);
