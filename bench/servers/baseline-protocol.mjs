// The heavy-schema baselines (`--store heavy`, bench/README.md's second
// table): the protocol subset every baseline server (ws, Socket.IO,
// uWebSockets.js) implements, with the same persistence chatwire's
// ServerStore does per turn,
// through better-sqlite3: the same tables and indexes (the subset a text turn
// touches), WAL + synchronous=NORMAL, prepared statements, and the same
// transactions:
//   connect   INSERT conversation (or ownership check + replay of events > lastSeq),
//             INSERT connection (autocommit each, as the hub does)
//   message   one transaction: dedup lookup, seq allocation, confirm event,
//             user message row, turn row
//   response  one transaction: seq allocation, response event, assistant
//             message row, turn status
//   close     UPDATE connection
// Frames: JSON.parse in, JSON.stringify out. Validation is what a hand-written
// server would do (types of the fields it reads), not chatwire's full codec.
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { STREAM_DELTA_CHARS, STREAM_DELTAS } from './common.mjs';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS conversations (
  id TEXT PRIMARY KEY, client_id TEXT NOT NULL, user_id TEXT NOT NULL, created_at INTEGER NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0, pruned_through INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS conversations_user ON conversations(user_id);
CREATE TABLE IF NOT EXISTS connections (
  id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, client_id TEXT NOT NULL, user_id TEXT NOT NULL,
  peer_ip TEXT NOT NULL, opened_at INTEGER NOT NULL, closed_at INTEGER, close_code INTEGER);
CREATE INDEX IF NOT EXISTS connections_conversation ON connections(conversation_id);
CREATE TABLE IF NOT EXISTS turns (
  conversation_id TEXT NOT NULL, message_id TEXT NOT NULL, turn_id TEXT NOT NULL, reply_id TEXT NOT NULL,
  status TEXT NOT NULL, confirm_seq INTEGER NOT NULL, received_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (conversation_id, message_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS turns_unfinished ON turns(status) WHERE status = 'received';
CREATE TABLE IF NOT EXISTS messages (
  conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, role TEXT NOT NULL, message_id TEXT NOT NULL,
  reply_to TEXT, content TEXT NOT NULL, timestamp TEXT NOT NULL, response_frame TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS messages_seq ON messages(conversation_id, seq);
CREATE INDEX IF NOT EXISTS messages_id ON messages(conversation_id, message_id);
CREATE TABLE IF NOT EXISTS events (
  conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, ref_id TEXT NOT NULL,
  reply_to TEXT NOT NULL, created_at INTEGER NOT NULL, frame TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS events_seq ON events(conversation_id, seq);
CREATE INDEX IF NOT EXISTS events_ref ON events(conversation_id, ref_id);
CREATE INDEX IF NOT EXISTS events_reply ON events(conversation_id, reply_to);
CREATE INDEX IF NOT EXISTS events_created ON events(created_at);
`;

export function openStore(file) {
  const db = new Database(file);
  if (file !== ':memory:') {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('cache_size = -32768');  // as chatwire's ServerStore
    db.pragma('temp_store = MEMORY');
  }
  db.exec(SCHEMA);
  const q = {
    createConv: db.prepare('INSERT INTO conversations (id, client_id, user_id, created_at) VALUES (?, ?, ?, ?)'),
    owns: db.prepare('SELECT 1 FROM conversations WHERE id = ? AND client_id = ? AND user_id = ?'),
    after: db.prepare('SELECT frame FROM events WHERE conversation_id = ? AND seq > ? ORDER BY seq'),
    openConn: db.prepare(
      'INSERT INTO connections (id, conversation_id, client_id, user_id, peer_ip, opened_at) VALUES (?, ?, ?, ?, ?, ?)'),
    closeConn: db.prepare('UPDATE connections SET closed_at = ?, close_code = ? WHERE id = ?'),
    findTurn: db.prepare('SELECT status, reply_id FROM turns WHERE conversation_id = ? AND message_id = ?'),
    nextSeq: db.prepare('UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq'),
    event: db.prepare(
      'INSERT INTO events (conversation_id, seq, kind, ref_id, reply_to, created_at, frame) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    delUser: db.prepare("DELETE FROM messages WHERE conversation_id = ? AND message_id = ? AND role = 'user'"),
    userMsg: db.prepare(
      "INSERT INTO messages (conversation_id, seq, role, message_id, reply_to, content, timestamp) VALUES (?, ?, 'user', ?, NULL, ?, ?)"),
    turn: db.prepare(
      'INSERT OR REPLACE INTO turns (conversation_id, message_id, turn_id, reply_id, status, confirm_seq, received_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0)'),
    asstMsg: db.prepare(
      "INSERT OR REPLACE INTO messages (conversation_id, seq, role, message_id, reply_to, content, timestamp, response_frame) VALUES (?, ?, 'assistant', ?, ?, ?, ?, ?)"),
    finish: db.prepare('UPDATE turns SET status = ?, finished_at = ? WHERE conversation_id = ? AND message_id = ?'),
    turnEvents: db.prepare('SELECT frame FROM events WHERE conversation_id = ? AND (ref_id = ? OR reply_to = ?) ORDER BY seq'),
  };

  const receive = db.transaction((conv, messageId, content, timestamp, now) => {
    const seq = q.nextSeq.get(conv).last_seq;
    const obj = { type: 'confirm', messageId, seq, timestamp: new Date(now).toISOString() };
    const confirm = JSON.stringify(obj);
    q.event.run(conv, seq, 'confirm', messageId, '', now, confirm);
    q.delUser.run(conv, messageId);
    q.userMsg.run(conv, seq, messageId, content, timestamp);
    const replyId = randomUUID();
    q.turn.run(conv, messageId, randomUUID(), replyId, 'received', seq, now);
    return { confirm, obj, replyId };
  });

  const respond = db.transaction((conv, messageId, replyId, content, now) => {
    const seq = q.nextSeq.get(conv).last_seq;
    const timestamp = new Date(now).toISOString();
    const obj = { type: 'response', messageId: replyId, replyTo: messageId, content, seq, timestamp };
    const frame = JSON.stringify(obj);
    q.event.run(conv, seq, 'response', replyId, messageId, now, frame);
    q.asstMsg.run(conv, seq, replyId, messageId, content, timestamp, frame);
    q.finish.run('completed', now, conv, messageId);
    return { frame, obj };
  });

  return { db, q, receive, respond, close: () => db.close() };
}

const ts = () => new Date().toISOString();

/**
 * Per-socket protocol state machine. `send(text, obj)` writes one frame (ws
 * and uWS send the text; Socket.IO emits the object, parsing the text only for
 * replays). `reply` 'stream' sends the reply's first 80 characters as 20
 * `delta` frames before the response, as lite-protocol.mjs does. Returns a
 * handler for parsed frames and a close hook.
 */
export function createSession(store, peerIp, send, reply = 'plain') {
  let conn = null;  // { id, conversationId, clientId }
  const error = (code, message, messageId) => {
    const f = { type: 'error', code, error: message, timestamp: ts() };
    if (messageId) f.messageId = messageId;
    send(JSON.stringify(f), f);
  };
  function onFrame(f) {
    if (f === null || typeof f !== 'object' || typeof f.type !== 'string') {
      error('invalid_field', "field 'type' is missing");
      return;
    }
    switch (f.type) {
      case 'connect': {
        if (conn) return error('invalid_field', 'connect was already sent on this socket');
        if (typeof f.clientId !== 'string' || !f.clientId) return error('invalid_field', "field 'clientId' is missing");
        const now = Date.now();
        let conversationId = null;
        let replay = [];
        if (typeof f.conversationId === 'string' && store.q.owns.get(f.conversationId, f.clientId, '')) {
          conversationId = f.conversationId;
          replay = store.q.after.all(conversationId, Number.isInteger(f.lastSeq) ? f.lastSeq : 0);
        }
        const resumed = conversationId !== null;
        if (!resumed) {
          conversationId = randomUUID();
          store.q.createConv.run(conversationId, f.clientId, '', now);
        }
        const id = randomUUID();
        store.q.openConn.run(id, conversationId, f.clientId, '', peerIp, now);
        conn = { id, conversationId, clientId: f.clientId };
        const cc = { type: 'connect_confirm', conversationId, connectionId: id, resumed, recovered: true,
          heartbeatMs: 10000, timestamp: ts() };
        send(JSON.stringify(cc), cc);
        for (const r of replay) send(r.frame, null);
        return;
      }
      case 'ping': {
        const p = { type: 'pong', timestamp: ts() };
        send(JSON.stringify(p), p);
        return;
      }
      case 'message': {
        if (!conn) return error('invalid_field', 'send connect first');
        const { messageId, content } = f;
        if (typeof messageId !== 'string' || !messageId) return error('invalid_field', "field 'messageId' is missing");
        if (f.clientId !== conn.clientId) return error('invalid_field', "field 'clientId' does not match", messageId);
        if (typeof content !== 'string' || !content) return error('invalid_field', "field 'content' is missing", messageId);
        const conv = conn.conversationId;
        const existing = store.q.findTurn.get(conv, messageId);
        if (existing && existing.status !== 'failed' && existing.status !== 'abandoned') {
          for (const r of store.q.turnEvents.all(conv, messageId, messageId)) send(r.frame, null);
          return;
        }
        const now = Date.now();
        const c = store.receive(conv, messageId, content, String(f.timestamp ?? ''), now);
        send(c.confirm, c.obj);
        // The application's handler: answers at once with the same text, or
        // streams its first 80 characters as 20 deltas (reply 'stream').
        let text = content;
        if (reply === 'stream') {
          text = content.slice(0, STREAM_DELTAS * STREAM_DELTA_CHARS);
          for (let i = 0; i < STREAM_DELTAS; i++) {
            const d = { type: 'delta', messageId: c.replyId, replyTo: messageId, index: i,
              delta: text.slice(i * STREAM_DELTA_CHARS, (i + 1) * STREAM_DELTA_CHARS), timestamp: ts() };
            send(JSON.stringify(d), d);
          }
        }
        const r = store.respond(conv, messageId, c.replyId, text, Date.now());
        send(r.frame, r.obj);
        return;
      }
      case 'disconnect':
        return;
      default:
        error('unknown_type', `unknown frame type '${f.type}'`);
    }
  }
  function onClose(code) {
    if (conn) store.q.closeConn.run(Date.now(), code ?? 1006, conn.id);
    conn = null;
  }
  return { onFrame, onClose };
}
