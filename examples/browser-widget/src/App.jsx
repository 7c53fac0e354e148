// The chat widget: header with the connection badge, the conversation (with
// "load older" paging), the typing indicator and the composer. All state comes
// from chatwire's zustand store through useStore(store, selector).
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useStore } from 'zustand';
import { Composer } from './Composer.jsx';
import { ConnectionBadge, describeConnection } from './ConnectionBadge.jsx';
import { AssistantMessage, UserMessage } from './Messages.jsx';

// Each one shows a feature of the example server (see the trigger words at
// the top of examples/node-server/server.mjs).
const SUGGESTIONS = [
  'Hello! What can you do?',
  'What time is it here?',           // the client tool getLocalTime
  'Where am I right now?',           // the client tool getLocation
  'Set a reminder for me',           // a form component
  'What do the docs say about reconnecting?',  // citations
];

/** A polite live region's text; the same text twice is still announced twice. */
function useAnnouncer() {
  const [text, setText] = useState('');
  const flip = useRef(false);
  const announce = useCallback((t) => {
    flip.current = !flip.current;
    setText(flip.current ? t : `${t}\u200b`);
  }, []);
  return [text, announce];
}

function TypingIndicator() {
  return (
    <div className="typing" data-testid="typing">
      <span className="dots" aria-hidden="true"><i /><i /><i /></span>
      Assistant is typing
    </div>
  );
}

function Empty({ onPick }) {
  return (
    <div className="empty">
      <div className="empty-logo" aria-hidden="true">◆</div>
      <h2>How can I help?</h2>
      <p>Ask anything, or attach images with the paperclip. Messages are kept in this browser: they survive a reload, even offline.</p>
      <div className="suggestions">
        {SUGGESTIONS.map((s) => <button type="button" key={s} onClick={() => onPick(s)}>{s}</button>)}
      </div>
    </div>
  );
}

function ErrorBanner({ error, onClose }) {
  if (!error) return null;
  return (
    <div className="banner" role="alert" data-testid="error-banner">
      <span><strong>{error.code}</strong>: {error.message}</span>
      <button type="button" className="link" onClick={onClose} aria-label="Dismiss">Dismiss</button>
    </div>
  );
}

export function App({ client, store, settings }) {
  const connection = useStore(store, (s) => s.connection);
  const messages = useStore(store, (s) => s.messages);
  const typing = useStore(store, (s) => s.typing);
  const lastError = useStore(store, (s) => s.lastError);
  const [dismissed, setDismissed] = useState(null);
  const [announcement, announce] = useAnnouncer();
  const [hasMore, setHasMore] = useState(() => messages.length >= settings.pageSize);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const log = useRef(null);
  const stick = useRef(true);        // follow new messages while scrolled to the bottom
  const anchor = useRef(null);       // distance from the bottom to keep while older messages load

  useEffect(() => client.on('history', (e) => setHasMore(Boolean(e.hasMore))), [client]);

  // Announce connection changes (not every countdown second).
  const connectionText = describeConnection(connection, settings.maxAttempts);
  const firstConnection = useRef(true);
  useEffect(() => {
    if (firstConnection.current) { firstConnection.current = false; return; }
    announce(connectionText);
  }, [connectionText, announce]);

  // Announce finished replies and failed messages.
  const seen = useRef(new Map(messages.map((m) => [m.id, m.status])));
  useEffect(() => {
    for (const m of messages) {
      const before = seen.current.get(m.id);
      if (before === m.status) continue;
      seen.current.set(m.id, m.status);
      if (before === undefined && m.status !== 'streaming' && m.status !== 'queued' && m.status !== 'sent') continue;
      if (m.role === 'assistant' && m.status === 'complete') announce('The assistant replied.');
      if (m.role === 'user' && m.status === 'failed') announce(`Message not delivered: ${m.error?.message ?? ''}`);
    }
  }, [messages, announce]);

  // Older messages are prepended: keep the viewport where it was. Otherwise,
  // follow the conversation while the user is at the bottom.
  useLayoutEffect(() => {
    const el = log.current;
    if (!el) return;
    if (anchor.current !== null) {
      el.scrollTop = el.scrollHeight - anchor.current;
      anchor.current = null;
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages, typing]);

  const onScroll = () => {
    const el = log.current;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
  };

  async function loadOlder() {
    const el = log.current;
    anchor.current = el.scrollHeight - el.scrollTop;
    setLoadingOlder(true);
    try {
      const before = client.messages.length;
      await store.getState().loadOlder();
      // Nothing more locally and nothing asked from the server (offline): the start.
      if (client.messages.length === before && connection.status !== 'open') setHasMore(false);
    } finally {
      setLoadingOlder(false);
    }
  }

  const userById = useMemo(() => {
    const map = new Map();
    for (const m of messages) if (m.role === 'user') map.set(m.id, m);
    return map;
  }, [messages]);

  const retry = useCallback((id) => store.getState().retry(id), [store]);
  const cancel = useCallback((id) => store.getState().cancel(id), [store]);
  const submitComponent = useCallback(
    (componentId, action, values) => store.getState().submitComponent(componentId, action, values), [store]);

  const visibleError = lastError && lastError !== dismissed && !lastError.messageId ? lastError : null;

  return (
    <div className="chat">
      <header className="chat-header">
        <div className="brand">
          <div className="brand-logo" aria-hidden="true">◆</div>
          <div>
            <h1>Assistant</h1>
            <p>chatwire example widget</p>
          </div>
        </div>
        <ConnectionBadge
          connection={connection}
          maxAttempts={settings.maxAttempts}
          onReconnect={() => store.getState().reconnect()}
          onConnect={() => client.connect()}
        />
      </header>

      <div className="log" ref={log} onScroll={onScroll}>
        {hasMore && messages.length > 0 && (
          <div className="older">
            <button type="button" className="older-button" onClick={loadOlder} disabled={loadingOlder} data-testid="load-older">
              {loadingOlder ? 'Loading…' : 'Load older messages'}
            </button>
          </div>
        )}
        {messages.length === 0
          ? <Empty onPick={(s) => store.getState().send({ content: s })} />
          : (
            <ol className="messages" aria-label="Conversation">
              {messages.map((m) => (m.role === 'user'
                ? <UserMessage key={m.id} message={m} onRetry={retry} />
                : (
                  <AssistantMessage key={`reply:${m.replyTo}`} message={m} images={userById.get(m.replyTo)?.images}
                    onCancel={cancel} onSubmitComponent={submitComponent} />
                )))}
            </ol>
          )}
        {typing && <TypingIndicator />}
      </div>

      <ErrorBanner error={visibleError} onClose={() => setDismissed(lastError)} />
      <Composer store={store} client={client} announce={announce} />
      <div className="sr-only" role="status" aria-live="polite" aria-atomic="true" data-testid="live">{announcement}</div>
    </div>
  );
}
