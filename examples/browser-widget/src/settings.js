// Where the widget connects and stores, from the page URL (all optional):
//   ?ws=ws://host:port/ws/chat   the chat server (default: same host, port
//                                window.CHATWIRE_WS_PORT from /config.js, else 8080)
//   ?db=name                     IndexedDB database name (default 'chatwire'), so
//                                several demo conversations can live side by side
//   ?retry=500,1000,2000         reconnect delays in ms (default 5 s, 10 s, 20 s;
//                                tests and demos of the "failed" state use short ones)
const params = new URLSearchParams(globalThis.location?.search ?? '');

function wsUrl() {
  if (params.get('ws')) return params.get('ws');
  const port = globalThis.CHATWIRE_WS_PORT ?? 8080;
  const host = globalThis.location?.hostname || '127.0.0.1';
  const scheme = globalThis.location?.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${host}:${port}/ws/chat`;
}

function reconnect() {
  const delays = (params.get('retry') ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n >= 0);
  const maxAttempts = 3;
  if (!delays.length) return { maxAttempts };
  return { maxAttempts, delaysMs: delays, minDelayMs: Math.min(...delays) };
}

export const settings = {
  url: wsUrl(),
  storage: params.get('db') ? `indexeddb:${params.get('db')}` : 'indexeddb',
  reconnect: reconnect(),
  maxAttempts: 3,
  /** How many messages the client keeps loaded per page (the core's default). */
  pageSize: 50,
};
