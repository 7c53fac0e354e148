// `npm start`: the example server and the widget page, both on 127.0.0.1.
//   PORT (default 8080): the chat server (WebSocket + /api/ticket + /healthz)
//   WIDGET_PORT (default 5173): the page
// The page is the built React widget (examples/browser-widget/dist) when it
// exists, else a plain page that loads chatwire's browser entry unbundled.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExampleServer } from './node-server/server.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const widgetDist = path.join(root, 'examples/browser-widget/dist');
const host = '127.0.0.1';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };

function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address().port));
  });
}

const chat = createExampleServer({ host, port: Number(process.env.PORT ?? 8080), database: process.env.DATABASE ?? ':memory:' });
try {
  await chat.listen();
} catch (err) {
  console.error(`${err.message}\nSet PORT to use another port.`);
  process.exit(1);
}

const built = fs.existsSync(path.join(widgetDist, 'index.html'));
const page = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let file;
  if (url.pathname === '/config.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(`window.CHATWIRE_WS_PORT = ${chat.port};`);
    return;
  }
  if (built) {
    file = path.join(widgetDist, url.pathname === '/' ? 'index.html' : url.pathname);
    if (!file.startsWith(widgetDist)) file = null;
  } else if (url.pathname === '/') {
    const html = fs.readFileSync(path.join(root, 'examples/browser-widget/plain.html'), 'utf8')
      .replace('<script type="module">', `<script>window.CHATWIRE_WS_PORT = ${chat.port};</script>\n  <script type="module">`);
    res.writeHead(200, { 'content-type': TYPES['.html'] });
    res.end(html);
    return;
  } else if (url.pathname.startsWith('/chatwire/')) {
    file = path.join(root, url.pathname.slice('/chatwire/'.length));
  } else if (url.pathname.startsWith('/node_modules/')) {
    file = path.join(root, url.pathname);
  }
  if (!file || !file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404);
    res.end('not found');
    return;
  }
  const headers = { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' };
  // Vite's content-hashed assets never change: browsers keep them (and their
  // compiled JS/WASM code) across reloads.
  if (built && url.pathname.startsWith('/assets/')) headers['cache-control'] = 'public, max-age=31536000, immutable';
  else headers['cache-control'] = 'no-cache';
  res.writeHead(200, headers);
  fs.createReadStream(file).pipe(res);
});
const pagePort = await listen(page, Number(process.env.WIDGET_PORT ?? 5173)).catch(() => listen(page, 0));

console.log(`chatwire demo
  widget:      http://${host}:${pagePort}/   (${built ? 'React widget' : 'plain page; `npm run build:widget` for the React widget'})
  chat server: ws://${host}:${chat.port}/ws/chat   (health: http://${host}:${chat.port}/healthz)
Ctrl-C stops both.`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  page.close();
  page.closeAllConnections?.();
  await chat.close();
  console.log('stopped');
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
