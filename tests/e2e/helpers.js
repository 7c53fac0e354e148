// Shared helpers for browser tests: Debian's Chromium through playwright-core,
// and a static file server on loopback.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { execFileSync, fork } = require('node:child_process');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Launches Chromium with a fresh profile folder (or `options.userDataDir`, to
 * reopen a profile kept with close({ keepProfile: true })); returns { context, close }.
 */
async function launchBrowser(options = {}) {
  const { chromium } = require('playwright-core');
  const userDataDir = options.userDataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'chatwire-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true,
    viewport: options.viewport ?? { width: 900, height: 820 },
  });
  return {
    context,
    userDataDir,
    async close({ keepProfile = false } = {}) {
      await context.close();
      if (!keepProfile) fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.wasm': 'application/wasm', '.css': 'text/css', '.png': 'image/png', '.json': 'application/json' };

/**
 * Serves `root` on 127.0.0.1 (any free port); resolves to { url, close }.
 * `routes` maps a path to a function returning [contentType, body] (e.g. the
 * widget's /config.js, which examples/start.mjs also serves).
 */
function serveStatic(root, { routes = {} } = {}) {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (routes[rel]) {
      const [type, body] = routes[rel]();
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    let file = path.join(root, rel.endsWith('/') ? rel + 'index.html' : rel);
    if (!file.startsWith(root) || !fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
    // Like a production static host: Vite's content-hashed assets are
    // immutable, everything else is revalidated (ETag). Chromium then caches
    // compiled JS and WebAssembly code across reloads, as it would for users.
    const st = fs.statSync(file);
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const headers = {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      etag,
      'cache-control': rel.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    };
    if (req.headers['if-none-match'] === etag) { res.writeHead(304, headers); res.end(); return; }
    res.writeHead(200, headers);
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((r) => { server.close(r); server.closeAllConnections?.(); }),
  })));
}

// ------------------------------------------------------------------ the example widget

const ROOT = path.resolve(__dirname, '../..');
const WIDGET = path.join(ROOT, 'examples/browser-widget');
const WIDGET_DIST = path.join(WIDGET, 'dist');

function newestMtime(p) {
  if (!fs.existsSync(p)) return 0;
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const name of fs.readdirSync(p)) {
    if (name === 'node_modules' || name === 'dist') continue;
    t = Math.max(t, newestMtime(path.join(p, name)));
  }
  return t;
}

/**
 * Builds examples/browser-widget (npm run build:widget) when dist is missing or
 * older than its sources, chatwire's browser JS or the .wasm; returns dist's path.
 */
function ensureWidgetBuilt() {
  const built = path.join(WIDGET_DIST, 'index.html');
  const sources = Math.max(newestMtime(WIDGET), newestMtime(path.join(ROOT, 'js')),
    newestMtime(path.join(ROOT, 'dist/wasm')));
  if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < sources) {
    execFileSync(process.execPath, [path.join(WIDGET, 'build.mjs')], { cwd: ROOT, stdio: 'pipe' });
  }
  return WIDGET_DIST;
}

/**
 * Starts the example server (examples/node-server/server.mjs) in a child
 * process on 127.0.0.1. Resolves to { port, handled, actions, stop() }:
 * `handled` lists every onMessage handler run, `actions` every component
 * action. Pass the same `port` and `database` to start it again after stop().
 */
function startExampleServer({ port = 0, database = ':memory:', stepMs = 40 } = {}) {
  const child = fork(path.join(__dirname, 'example-server.mjs'), [], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), DATABASE: database, STEP_MS: String(stepMs) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const handle = {
    port: 0, handled: [], actions: [], child,
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        if (child.connected) child.send({ type: 'close' });
        else child.kill('SIGTERM');
      });
    },
  };
  return new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m.type === 'listening') {
        handle.port = m.port;
        resolve(handle);
      } else if (m.type === 'handled') {
        handle.handled.push(m);
      } else if (m.type === 'component_action') {
        handle.actions.push(m);
      }
    });
    child.once('exit', (code) => reject(new Error(`example server exited (${code}) before listening`)));
  });
}

/** Serves the built widget with a /config.js pointing at `wsPort`; resolves to { url, close }. */
function serveWidget(getWsPort) {
  return serveStatic(ensureWidgetBuilt(), {
    routes: { '/config.js': () => ['text/javascript', `window.CHATWIRE_WS_PORT = ${getWsPort()};`] },
  });
}

/** Where screenshots go (gitignored); created on first use. */
function artifact(name) {
  const dir = path.join(ROOT, 'test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

// Runs in the page before any script: records every state the widget renders
// (user message status, image status, assistant status, typing indicator) so a
// test can check the order of states, not just the last one.
function recordRenderedStates() {
  window.__states = [];
  const last = new Map();
  const note = (key, value, extra) => {
    if (last.get(key) === value) return;
    last.set(key, value);
    window.__states.push({ key, value, ...extra });
  };
  const scan = () => {
    for (const el of document.querySelectorAll('[data-testid=user-message]')) {
      note(`user:${el.dataset.id}`, el.dataset.status, { kind: 'user', id: el.dataset.id });
      el.querySelectorAll('[data-testid=message-image]').forEach((img, i) => {
        note(`image:${el.dataset.id}:${i}`, img.dataset.imageStatus, { kind: 'image', id: el.dataset.id, index: i });
      });
    }
    for (const el of document.querySelectorAll('[data-testid=assistant-message]')) {
      note(`assistant:${el.dataset.id}`, el.dataset.status, { kind: 'assistant', id: el.dataset.id,
        text: el.querySelector('[data-testid=reply]')?.textContent ?? '' });
    }
    note('typing', String(Boolean(document.querySelector('[data-testid=typing]'))), { kind: 'typing' });
    // Thinking steps listed live (before any reply text): a short window, so it is
    // recorded here rather than waited for with a selector that may already be gone.
    const live = document.querySelector('.thinking-active');
    note('thinking', live ? 'active' : 'none', { kind: 'thinking', steps: live ? live.querySelectorAll('li').length : 0 });
  };
  new MutationObserver(scan).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
}

module.exports = {
  launchBrowser, serveStatic, CHROMIUM, ensureWidgetBuilt, startExampleServer, serveWidget, artifact, ROOT,
  recordRenderedStates,
};
