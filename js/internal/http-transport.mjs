// The HTTP fallback transport (PROTOCOL.md "HTTP fallback transport"; the
// endpoints are in docs/protocol.md), for both builds: the same shape as a
// platform socket (openSocket), built on `fetch`, which Node (18+) and every
// browser have. Server frames arrive as Server-Sent Events on a streamed GET
// response (read with fetch's ReadableStream rather than EventSource: an
// EventSource reconnects by itself, hides the HTTP status of a refusal and
// cannot be aborted cleanly, and the client engine owns reconnection);
// client frames go out by POST, one request at a time, several frames per
// request when they queue up (one frame per line).
//
//   const s = openHttpStream('ws://host/ws/chat?ticket=t', { open, message, close }, { fetch });
//   s.send(text); s.close(code, reason); s.destroy();
//
// on.close(code, httpStatus) comes exactly once after openHttpStream, like a
// WebSocket's: the `close` event's code, 1006 when the stream just ended or a
// POST could not be delivered, and httpStatus when the GET was refused.

/** ws://h/p?q -> http://h/p/sse?q (wss -> https). */
export function fallbackUrl(wsUrl) {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  u.pathname = u.pathname.replace(/\/$/, '') + '/sse';
  return u;
}

export function openHttpStream(wsUrl, on, options = {}) {
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw new TypeError('the HTTP fallback needs fetch (Node 18+ or a browser)');
  const streamUrl = fallbackUrl(wsUrl);
  const abort = new AbortController();
  let state = 'connecting';  // -> open -> closed
  let postBase = null;
  let queue = [];
  let posting = false;
  let closeReport = null;

  function finish(code, httpStatus = 0) {
    if (state === 'closed') return;
    state = 'closed';
    queue = [];
    abort.abort();
    on.close(code, httpStatus);
  }

  async function pump() {
    if (posting || state !== 'open' || queue.length === 0) return;
    posting = true;
    const body = queue.join('\n');
    queue = [];
    try {
      const r = await doFetch(postBase, {
        method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' }, signal: abort.signal,
      });
      if (r.status !== 204 && r.status !== 200) {
        // 404 unknown_stream: the server has forgotten the stream; the
        // stream's own end (or this) makes the engine reconnect.
        await r.body?.cancel?.();
        finish(closeReport ?? 1006);
        return;
      }
      await r.body?.cancel?.();
    } catch {
      finish(closeReport ?? 1006);
      return;
    } finally {
      posting = false;
    }
    pump();
  }

  function onEvent(event, data) {
    if (state === 'closed') return;
    if (event === 'open') {
      let id;
      try { id = JSON.parse(data).stream; } catch { id = null; }
      if (typeof id !== 'string' || !/^[A-Za-z0-9_-]+$/.test(id)) { finish(1002); return; }
      postBase = new URL(streamUrl.href);
      postBase.search = '';
      postBase.pathname = `${postBase.pathname}/${id}`;
      state = 'open';
      on.open();
      pump();
    } else if (event === 'close') {
      let code = 1006;
      try { code = JSON.parse(data).code ?? 1005; } catch { /* keep 1006 */ }
      closeReport = code;
      finish(code);
    } else if (event === 'message' && state === 'open') {
      on.message(data);
    }
  }

  (async () => {
    let res;
    try {
      res = await doFetch(streamUrl, { headers: { accept: 'text/event-stream' }, signal: abort.signal, cache: 'no-store' });
    } catch {
      finish(1006);
      return;
    }
    if (res.status !== 200 || !res.body) {
      await res.body?.cancel?.().catch(() => {});
      finish(1006, res.status);
      return;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let event = 'message';
    let data = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          let line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {  // end of an event
            if (data.length) onEvent(event, data.join('\n'));
            event = 'message';
            data = [];
          } else if (line.startsWith(':')) {
            // comment: keep-alive
          } else if (line.startsWith('event:')) {
            event = line.slice(6).trimStart();
          } else if (line.startsWith('data:')) {
            data.push(line.slice(5).replace(/^ /, ''));
          }
        }
      }
    } catch {
      // aborted or the connection broke
    }
    finish(closeReport ?? 1006);
  })();

  return {
    send(text) {
      if (state !== 'open') return;
      queue.push(text);
      pump();
    },
    close(code = 1000, reason = '') {
      // The protocol's own goodbye travels as a frame (`disconnect`); the
      // transport just ends the stream. The engine gets its close now.
      if (state === 'closed') return;
      closeReport = code;
      finish(code);
    },
    destroy() {
      state = 'closed';
      queue = [];
      abort.abort();
    },
  };
}
