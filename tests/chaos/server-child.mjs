// The chaos run's server, in its own process so the driver can kill it
// (SIGKILL: a crash) or stop it (SIGTERM: server.close(), a clean restart) and
// start it again on the same SQLite file and port.
//
//   node tests/chaos/server-child.mjs <port> <database> <handler-log>
//
// Every handler run appends "start <messageId> <pid>" to the handler log
// before anything else and "end <messageId> <pid>" after respond() returned;
// appendFileSync writes reach the kernel at once, so a SIGKILL loses none.
// The driver counts runs per messageId from this log. A message whose content
// starts with "F:" fails its first run ever (the handler throws), so the
// client sees it failed and must retry() it: a failed turn processed again.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { ChatServer } from '../../js/node.mjs';

const [port, database, log] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Messages that already had a run, in any earlier process.
const started = new Set();
if (existsSync(log)) {
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const [what, id] = line.split(' ');
    if (what === 'start') started.add(id);
  }
}

const server = new ChatServer({
  port: Number(port),
  database,
  retentionMs: 0,       // keep the whole event log: the driver audits it by replay
  retentionEvents: 0,
});
server.on('error', () => {});  // the F: failures are on purpose
server.onMessage(async (msg, reply) => {
  const first = !started.has(msg.messageId);
  started.add(msg.messageId);
  appendFileSync(log, `start ${msg.messageId} ${process.pid}\n`);
  reply.thinking('Analyzing your request...');
  // One turn in ten is slow, so a server restart often finds turns running.
  await sleep(Math.random() < 0.1 ? 30 + Math.random() * 50 : Math.random() * 4);
  if (msg.content.startsWith('F:') && first) throw new Error('chaos: first run of an F: message fails');
  reply.delta('re: ');
  await sleep(Math.random() * 4);
  reply.delta(msg.content);
  await sleep(Math.random() * 4);
  await reply.respond({ content: `re: ${msg.content}` });
  appendFileSync(log, `end ${msg.messageId} ${process.pid}\n`);
});

process.on('SIGTERM', async () => {
  await server.close();
  process.exit(0);
});

await server.listen();
process.send?.({ ready: true, port: server.port });
