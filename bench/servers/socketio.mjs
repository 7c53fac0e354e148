// Baseline: Socket.IO (websocket transport only) + better-sqlite3
// (baseline-protocol.mjs). Frames travel as the event "m" with the frame
// object as its argument (Socket.IO parses and stringifies).
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { args, baseline, onTerm, ready } from './common.mjs';

const a = args();
const { store, session: createSession } = await baseline(a);
const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false,
  maxHttpBufferSize: 16 * 1024 * 1024 });
io.on('connection', (socket) => {
  const session = createSession(socket.handshake.address ?? '',
    (text, obj) => socket.emit('m', obj ?? JSON.parse(text)));
  socket.on('m', (f) => session.onFrame(f));
  socket.on('disconnect', () => session.onClose(1000));
});
http.listen(a.port, '127.0.0.1', () => ready(http.address().port));
onTerm(() => new Promise((resolve) => {
  io.close(() => { store.close(); resolve(); });
}));
