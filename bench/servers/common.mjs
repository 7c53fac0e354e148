// Shared by the bench server children: argument parsing, the ready line the
// orchestrator (bench/run.mjs) waits for, and a clean exit on SIGTERM.
export function args() {
  const out = { port: 0, db: ':memory:', mode: 'turn' };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, '')] = a[i + 1];
  out.port = Number(out.port);
  return out;
}

export function ready(port) {
  process.stdout.write(`${JSON.stringify({ ready: true, port, pid: process.pid })}\n`);
}

export function onTerm(close) {
  let closing = false;
  const stop = async () => {
    if (closing) return;
    closing = true;
    try { await close(); } finally { process.exit(0); }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
