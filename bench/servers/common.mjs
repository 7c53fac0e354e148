// Shared by the bench server children: argument parsing, the ready line the
// orchestrator (bench/run.mjs) waits for, and a clean exit on SIGTERM.

// The streamed scenario: a reply of 20 deltas of 4 characters, then the response.
export const STREAM_DELTAS = 20;
export const STREAM_DELTA_CHARS = 4;
export function args() {
  // store: 'lite' (two rows per turn, lite-protocol.mjs) or 'heavy' (chatwire's
  // schema, baseline-protocol.mjs); reply: 'plain' or 'stream' (20 deltas first).
  const out = { port: 0, db: ':memory:', mode: 'turn', store: 'heavy', reply: 'plain' };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) out[a[i].replace(/^--/, '')] = a[i + 1];
  out.port = Number(out.port);
  if (!['lite', 'heavy'].includes(out.store)) throw new Error(`--store must be lite or heavy, not ${out.store}`);
  if (!['plain', 'stream'].includes(out.reply)) throw new Error(`--reply must be plain or stream, not ${out.reply}`);
  return out;
}

/**
 * The baseline's store and per-socket session for --store/--reply:
 * `session(peerIp, send)` returns `{ onFrame, onClose }`.
 */
export async function baseline(a) {
  if (a.store === 'lite') {
    const { openLiteStore, createLiteSession } = await import('./lite-protocol.mjs');
    const store = openLiteStore(a.db);
    return { store, session: (peerIp, send) => createLiteSession(store, send, a.reply) };
  }
  const { openStore, createSession } = await import('./baseline-protocol.mjs');
  const store = openStore(a.db);
  return { store, session: (peerIp, send) => createSession(store, peerIp, send, a.reply) };
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
