// Baseline: the `ws` package + JSON.parse + better-sqlite3: two rows per turn
// (--store lite, lite-protocol.mjs) or chatwire's schema (--store heavy,
// baseline-protocol.mjs).
import { WebSocketServer } from 'ws';
import { args, baseline, onTerm, ready } from './common.mjs';

const a = args();
const { store, session: createSession } = await baseline(a);
const wss = new WebSocketServer({ host: '127.0.0.1', port: a.port, path: '/ws/chat', perMessageDeflate: false,
  maxPayload: 16 * 1024 * 1024 });
wss.on('connection', (sock, req) => {
  const session = createSession(req.socket.remoteAddress ?? '', (text) => sock.send(text));
  sock.on('message', (data) => {
    let f;
    try {
      f = JSON.parse(data.toString());
    } catch {
      sock.send(JSON.stringify({ type: 'error', code: 'bad_json', error: 'not JSON', timestamp: new Date().toISOString() }));
      return;
    }
    session.onFrame(f);
  });
  sock.on('close', (code) => session.onClose(code));
  sock.on('error', () => {});
});
wss.on('listening', () => ready(wss.address().port));
onTerm(() => new Promise((resolve) => {
  for (const c of wss.clients) c.terminate();
  wss.close(() => { store.close(); resolve(); });
}));
