// createChatStore: a zustand/vanilla store over a ChatClient, in the shape
// zustand's React binding accepts (useStore(store, selector)). One setState per
// batch of engine events; the client keeps unchanged messages' identity, so a
// selector over one message does not re-render when another changes.
import { createStore } from 'zustand/vanilla';

export function createChatStore(client) {
  if (!client || typeof client.on !== 'function' || !('messages' in client)) {
    throw new TypeError('createChatStore(client) needs a ChatClient');
  }
  const store = createStore(() => ({
    messages: client.messages,
    connection: client.connection,
    thinking: {},
    typing: false,
    lastError: null,
    send: (draft) => client.send(draft),
    retry: (id) => client.retry(id),
    cancel: (id) => client.cancel(id),
    reconnect: () => client.reconnect(),
    disconnect: () => client.disconnect(),
    loadOlder: () => client.loadOlder(),
    setTyping: (on) => client.setTyping(on),
  }));
  client.on('update', () => {
    store.setState({ messages: client.messages, connection: client.connection });
  });
  client.on('thinking', ({ replyTo, step }) => {
    const prev = store.getState().thinking;
    store.setState({ thinking: { ...prev, [replyTo]: [...(prev[replyTo] ?? []), step] } });
  });
  client.on('typing', ({ isTyping }) => store.setState({ typing: isTyping }));
  client.on('error', (error) => store.setState({ lastError: error }));
  return store;
}
