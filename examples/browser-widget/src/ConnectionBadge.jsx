// The connection badge: connecting / online / reconnecting in N s (attempt k
// of 3) / offline with a Reconnect button; while open, a small label says
// which transport is in use (connection.transport: WebSocket or HTTP fallback). `describeConnection` is also what
// the ARIA live region announces (without the ticking seconds).
import { useNow } from './util.js';

export function describeConnection(c, maxAttempts, now = null) {
  switch (c.status) {
    case 'idle': return 'Starting…';
    case 'connecting': return 'Connecting…';
    case 'open': return 'Online';
    case 'reconnecting': {
      const attempt = `attempt ${Math.max(1, c.attempt)} of ${maxAttempts}`;
      if (c.nextRetryAt && now !== null) {
        const secs = Math.max(0, Math.ceil((c.nextRetryAt - now) / 1000));
        return `Reconnecting in ${secs} s · ${attempt}`;
      }
      return c.nextRetryAt ? `Connection lost · reconnecting, ${attempt}` : `Reconnecting… · ${attempt}`;
    }
    case 'failed': return 'Offline · could not reconnect';
    case 'closed': return 'Disconnected';
    default: return c.status;
  }
}

export function ConnectionBadge({ connection, maxAttempts, onReconnect, onConnect }) {
  const waiting = connection.status === 'reconnecting' && Boolean(connection.nextRetryAt);
  const now = useNow(waiting);
  return (
    <div className={`badge badge-${connection.status}`} data-testid="connection" data-status={connection.status}>
      <span className="badge-dot" aria-hidden="true" />
      <span className="badge-text">{describeConnection(connection, maxAttempts, now)}</span>
      {connection.status === 'open' && connection.transport && (
        <span className="badge-transport" data-testid="transport" data-transport={connection.transport}
              title={connection.transport === 'http' ? 'Connected over HTTP (WebSocket unavailable)' : 'Connected over WebSocket'}>
          {connection.transport === 'http' ? 'HTTP' : 'WebSocket'}
        </span>
      )}
      {(connection.status === 'failed' || waiting) && (
        <button type="button" className="badge-action" onClick={onReconnect}>
          {connection.status === 'failed' ? 'Reconnect' : 'Retry now'}
        </button>
      )}
      {connection.status === 'closed' && (
        <button type="button" className="badge-action" onClick={onConnect}>Connect</button>
      )}
    </div>
  );
}
