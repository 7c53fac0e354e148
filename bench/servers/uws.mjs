// Near-limit reference: uWebSockets.js (@trufflesuite/uws-js-unofficial, the
// npm build of uNetworking's C++ server) + JSON.parse + better-sqlite3: two
// rows per turn (--store lite, lite-protocol.mjs) or chatwire's schema
// (--store heavy, baseline-protocol.mjs).
import { createRequire } from 'node:module';
import { args, baseline, onTerm, ready } from './common.mjs';

const require = createRequire(import.meta.url);
const uWS = require('@trufflesuite/uws-js-unofficial');
if (typeof uWS.us_socket_local_port !== 'function' || Object.keys(uWS).length < 20) {
  console.error('uws: the native binary did not load (JS fallback in use); not a uWebSockets.js measurement');
  process.exit(1);
}
const a = args();
const { store, session: createSession } = await baseline(a);
const decoder = new TextDecoder();
let listenSocket = null;
uWS.App().ws('/ws/chat', {
  compression: uWS.DISABLED,
  maxPayloadLength: 16 * 1024 * 1024,
  idleTimeout: 0,
  upgrade: (res, req, context) => {
    res.upgrade({ session: null }, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    const ip = decoder.decode(ws.getRemoteAddressAsText());
    ws.getUserData().session = createSession(ip, (text) => ws.send(text, false));
  },
  message: (ws, message) => {
    let f;
    try {
      f = JSON.parse(decoder.decode(message));
    } catch {
      ws.send(JSON.stringify({ type: 'error', code: 'bad_json', error: 'not JSON', timestamp: new Date().toISOString() }));
      return;
    }
    ws.getUserData().session.onFrame(f);
  },
  close: (ws, code) => ws.getUserData().session?.onClose(code),
}).listen('127.0.0.1', a.port, (token) => {
  if (!token) {
    console.error('uws: cannot listen');
    process.exit(1);
  }
  listenSocket = token;
  ready(uWS.us_socket_local_port(token));
});
onTerm(() => {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  store.close();
});
