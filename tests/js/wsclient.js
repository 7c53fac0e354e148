// A small protocol client over the `ws` package (a client nobody here wrote),
// for testing the real server on loopback: frames in order, waits by predicate.
const WebSocket = require('ws');
const crypto = require('node:crypto');

const ts = () => new Date().toISOString();

class WsProbe {
  constructor(url, { headers } = {}) {
    this.url = url;
    this.frames = [];
    this.waiters = [];
    this.clientId = crypto.randomUUID();
    this.ws = new WebSocket(url, { headers });
    this.closed = new Promise((resolve) => this.ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
    });
    this.opened.catch(() => {});
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      this.frames.push(f);
      this.waiters = this.waiters.filter((w) => !w.test(f) || (w.resolve(f), false));
    });
  }

  send(frame) { this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)); }

  /** Resolves with the first frame (already received or future) matching `test`. */
  waitFor(test, timeoutMs = 5000) {
    const pred = typeof test === 'string' ? (f) => f.type === test : test;
    const have = this.frames.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const w = { test: pred, resolve: (f) => { clearTimeout(timer); resolve(f); } };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.map((f) => f.type))}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  async connect(extra = {}) {
    await this.opened;
    this.send({ type: 'connect', clientId: this.clientId, timestamp: ts(), ...extra });
    return this.waitFor('connect_confirm');
  }

  message(content, extra = {}) {
    const messageId = crypto.randomUUID();
    this.send({ type: 'message', messageId, clientId: this.clientId, timestamp: ts(), content, ...extra });
    return messageId;
  }

  close() {
    this.ws.close();
    return this.closed;
  }

  terminate() {
    this.ws.terminate();
    return this.closed;
  }
}

// Polls pred() every 5 ms until it returns something truthy (a throw counts
// as not yet); rejects naming `what` after timeoutMs.
function until(pred, what = 'condition', timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      let v;
      try { v = pred(); } catch { v = undefined; }
      if (v) return resolve(v);
      if (Date.now() - start > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

module.exports = { WsProbe, ts, until };
