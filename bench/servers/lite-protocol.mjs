// The server a user would write instead of chatwire (issue 19): parse the
// frame with JSON.parse, store the user message and the reply — two INSERTs
// into one simple table with a primary key, through better-sqlite3 (WAL,
// synchronous=NORMAL, prepared statements, each INSERT its own autocommit
// transaction) — and send `confirm` and `response` in chatwire's wire shape
// (PROTOCOL.md), so the same load generator drives it.
//
// What it does not do, and chatwire does: no idempotency by messageId (a
// resent message is a new turn; the primary key only refuses the duplicate
// row), no replayable event log (a resume gets nothing replayed), no
// connection or turn rows. seq is a per-conversation counter in memory,
// seeded from the table on resume.
//
// `reply`: 'plain' answers with the message's text; 'stream' sends the first
// 80 characters as 20 `delta` frames of 4 characters, then the `response`
// carrying the whole text (the 20 deltas), storing the same two rows.
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { STREAM_DELTA_CHARS, STREAM_DELTAS } from './common.mjs';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL,
  content TEXT NOT NULL, created_at INTEGER NOT NULL);
`;

export function openLiteStore(file) {
  const db = new Database(file);
  if (file !== ':memory:') {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.exec(SCHEMA);
  const insert = db.prepare(
    'INSERT INTO messages (id, conversation_id, seq, role, content, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  const maxSeq = db.prepare('SELECT max(seq) AS s FROM messages WHERE conversation_id = ?');
  return { db, insert, maxSeq, close: () => db.close() };
}

const ts = () => new Date().toISOString();

/**
 * Per-socket handler. `send(text)` writes one text frame. Returns
 * `{ onFrame(parsed), onClose() }`.
 */
export function createLiteSession(store, send, reply = 'plain') {
  let conn = null;  // { conversationId, clientId, seq }
  const error = (code, message, messageId) => {
    const f = { type: 'error', code, error: message, timestamp: ts() };
    if (messageId) f.messageId = messageId;
    send(JSON.stringify(f));
  };
  function onFrame(f) {
    if (f === null || typeof f !== 'object' || typeof f.type !== 'string') return error('invalid_field', "field 'type' is missing");
    switch (f.type) {
      case 'connect': {
        if (conn) return error('invalid_field', 'connect was already sent on this socket');
        if (typeof f.clientId !== 'string' || !f.clientId) return error('invalid_field', "field 'clientId' is missing");
        const resumed = typeof f.conversationId === 'string' && f.conversationId !== '';
        const conversationId = resumed ? f.conversationId : randomUUID();
        const seq = resumed ? (store.maxSeq.get(conversationId).s ?? 0) : 0;
        conn = { conversationId, clientId: f.clientId, seq };
        send(JSON.stringify({ type: 'connect_confirm', conversationId, connectionId: randomUUID(), resumed,
          recovered: true, heartbeatMs: 10000, timestamp: ts() }));
        return;
      }
      case 'ping':
        send(JSON.stringify({ type: 'pong', timestamp: ts() }));
        return;
      case 'message': {
        if (!conn) return error('invalid_field', 'send connect first');
        const { messageId, content } = f;
        if (typeof messageId !== 'string' || !messageId) return error('invalid_field', "field 'messageId' is missing");
        if (typeof content !== 'string' || !content) return error('invalid_field', "field 'content' is missing", messageId);
        const conv = conn.conversationId;
        const seq = ++conn.seq;
        try {
          store.insert.run(messageId, conv, seq, 'user', content, Date.now());
        } catch {
          conn.seq--;
          return error('invalid_field', 'messageId was already used', messageId);
        }
        send(JSON.stringify({ type: 'confirm', messageId, seq, timestamp: ts() }));
        // The application's handler: answers at once.
        const replyId = randomUUID();
        let text = content;
        if (reply === 'stream') {
          text = content.slice(0, STREAM_DELTAS * STREAM_DELTA_CHARS);
          for (let i = 0; i < STREAM_DELTAS; i++) {
            send(JSON.stringify({ type: 'delta', messageId: replyId, replyTo: messageId, index: i,
              delta: text.slice(i * STREAM_DELTA_CHARS, (i + 1) * STREAM_DELTA_CHARS), timestamp: ts() }));
          }
        }
        const rseq = ++conn.seq;
        store.insert.run(replyId, conv, rseq, 'assistant', text, Date.now());
        send(JSON.stringify({ type: 'response', messageId: replyId, replyTo: messageId, content: text, seq: rseq,
          timestamp: ts() }));
        return;
      }
      case 'disconnect':
        return;
      default:
        error('unknown_type', `unknown frame type '${f.type}'`);
    }
  }
  return { onFrame, onClose() { conn = null; } };
}
