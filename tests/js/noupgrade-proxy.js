// An HTTP/1.1 reverse proxy that refuses every WebSocket upgrade (403, as
// some corporate proxies do) and forwards all other requests to `target`,
// streaming both ways (a Server-Sent Events response flows through as it is
// written). Counts what it saw, so a test can show the chat went over HTTP.
const http = require('node:http');

function startNoUpgradeProxy(targetPort) {
  const counts = { upgradesRefused: 0, streams: 0, posts: 0, other: 0 };
  const server = http.createServer((req, res) => {
    if (/\/sse$|\/sse\?/.test(req.url)) counts.streams++;
    else if (req.method === 'POST' && /\/sse\//.test(req.url)) counts.posts++;
    else counts.other++;
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.destroy(); });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  const sockets = new Set();
  server.on('connection', (sock) => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); });
  server.on('upgrade', (req, socket) => {
    counts.upgradesRefused++;
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    counts,
    /** Cuts every connection through the proxy (streams included); keeps listening. */
    cutAll: () => { for (const s of sockets) s.destroy(); },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  })));
}

module.exports = { startNoUpgradeProxy };
