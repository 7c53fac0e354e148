// createChatStore: a zustand/vanilla store over a ChatClient, in the shape
// zustand's React binding accepts (useStore(store, selector)). One setState per
// batch of engine events; the client keeps unchanged messages' identity, so a
// selector over one message does not re-render when another changes.
import { createStore } from 'zustand/vanilla';

// How many system events (established, lost, restored, ...) the store keeps.
const SYSTEM_KEEP = 50;

export function createChatStore(client) {
  if (!client || typeof client.on !== 'function' || !('messages' in client)) {
    throw new TypeError('createChatStore(client) needs a ChatClient');
  }
  const store = createStore(() => ({
    messages: client.messages,
    connection: client.connection,
    thinking: Object.create(null),  // keyed by wire ids: no prototype
    typing: false,
    lastError: null,
    system: [],           // the newest SYSTEM_KEEP system events, oldest first
    lastSystem: null,
    send: (draft) => client.send(draft),
    retry: (id) => client.retry(id),
    cancel: (id) => client.cancel(id),
    submitComponent: (componentId, action, values) => client.submitComponent(componentId, action, values),
    reconnect: () => client.reconnect(),
    disconnect: () => client.disconnect(),
    loadOlder: () => client.loadOlder(),
    setTyping: (on) => client.setTyping(on),
  }));
  client.on('update', () => {
    store.setState({ messages: client.messages, connection: client.connection });
  });
  client.on('thinking', ({ replyTo, step }) => {
    // replyTo comes from the wire and may be "constructor", "__proto__", ...:
    // the map has no prototype and is only read through own properties.
    const prev = store.getState().thinking;
    const key = String(replyTo);
    const next = Object.assign(Object.create(null), prev);
    const steps = Object.hasOwn(prev, key) ? prev[key] : [];
    Object.defineProperty(next, key, {
      value: [...steps, step], enumerable: true, writable: true, configurable: true,
    });
    store.setState({ thinking: next });
  });
  client.on('typing', ({ isTyping }) => store.setState({ typing: isTyping }));
  client.on('error', (error) => store.setState({ lastError: error }));
  client.on('system', (event) => {
    const e = Object.freeze({ kind: event.kind, message: event.message, at: Date.now() });
    store.setState({ system: Object.freeze([...store.getState().system, e].slice(-SYSTEM_KEEP)), lastSystem: e });
  });
  return store;
}
