// Boot: load the WebAssembly module, open the SQLite store persisted in
// IndexedDB (messages, outbox and clientId come back after a reload), wrap the
// client in a zustand store, render, then connect.
//
// The WASM module starts compiling first thing, while React and the widget's
// components load in parallel (a dynamic import); index.html also preloads the
// .wasm (see vite.config.mjs), so its download starts with the HTML.
//
// The performance marks below are read by bench/browser-cold-start.mjs:
//   chatwire:boot            this module runs
//   chatwire:wasm-ready      the WebAssembly module is compiled and running
//   chatwire:store-open      SQLite opened from IndexedDB, last page restored
//   chatwire:messages-ready  that page is in the zustand store the UI reads
import { ChatClient, createChatStore, init } from 'chatwire';
import { settings } from './settings.js';
import { demoTools } from './tools.js';
import './styles.css';

performance.mark('chatwire:boot');
const wasmReady = init().then(() => performance.mark('chatwire:wasm-ready'));
const ui = import('./ui.jsx');

async function start() {
  await wasmReady;
  const client = await ChatClient.create({
    url: settings.url,
    storage: settings.storage,
    reconnect: settings.reconnect,
    tools: demoTools,
  });
  performance.mark('chatwire:store-open');
  const store = createChatStore(client);
  performance.mark('chatwire:messages-ready', { detail: { messages: store.getState().messages.length } });
  // For the browser console, the e2e tests and bench/browser-cold-start.mjs
  // (which seeds a second database with its own ChatClient).
  window.chatwireDemo = { client, store, settings, ChatClient };
  (await ui).mount({ client, store, settings });
  client.connect();
}

start().catch(async (err) => {
  console.error(err);
  (await ui).fail(err);
});
