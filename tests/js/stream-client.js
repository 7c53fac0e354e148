// Child process of deltas.test.js: one ChatClient (the build given as argv[2])
// with the zustand store, against the server at argv[3]. Sends one message,
// lets the reply stream N deltas of L bytes, and prints one JSON line when the
// streamed text is complete (CPU of this process from send() to that point,
// and whether the store's text is exactly the pieces), then a second line with
// the final message after the response. The parent releases the response only
// after the first line, so the first line measures the deltas alone.
const WebSocket = require('ws');
const { piece } = require('./stream-pieces');

async function main() {
  const [modulePath, url, n, l] = process.argv.slice(2);
  const N = Number(n);
  const L = Number(l);
  const cw = require(modulePath);
  await cw.init();
  const expected = Array.from({ length: N }, (_, i) => piece(i, L)).join('');
  const client = await cw.ChatClient.create({ url, storage: 'memory', WebSocket });
  const store = cw.createChatStore(client);
  await client.connect();
  const reply = () => store.getState().messages.find((m) => m.role === 'assistant');
  const before = process.cpuUsage();
  const started = Date.now();
  await client.send({ content: 'stream please' });
  await new Promise((resolve) => {
    const done = () => {
      const r = reply();
      if (!r || r.content.length < expected.length) return false;
      off();
      const cpu = process.cpuUsage(before);
      process.stdout.write(JSON.stringify({
        streamed: true,
        cpuMs: (cpu.user + cpu.system) / 1000,
        wallMs: Date.now() - started,
        status: r.status,
        length: r.content.length,
        exact: r.content === expected,
      }) + '\n');
      resolve();
      return true;
    };
    const off = store.subscribe(done);
  });
  await new Promise((resolve) => {
    const off = store.subscribe((s) => {
      const r = reply();
      if (r?.status !== 'complete') return;
      off();
      process.stdout.write(JSON.stringify({ final: true, status: r.status, exact: r.content === expected }) + '\n');
      resolve();
    });
  });
  await client.close();
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(String(err?.stack ?? err) + '\n');
  process.exit(1);
});
