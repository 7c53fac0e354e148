#include "core/store/server_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <climits>
#include <map>

#include "core/store/sqlite_util.h"

#include "core/protocol/codec.h"
#include "core/protocol/limits.h"

namespace chatwire::store {

namespace {

constexpr int kSchemaVersion = 2;

// Version 0 -> 1: the whole schema. Later versions append a step to
// kMigrations; a file is migrated step by step inside one transaction.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE conversations (
  id TEXT PRIMARY KEY,
  client_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0,
  pruned_through INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_user ON conversations(user_id);
CREATE TABLE connections (
  id TEXT PRIMARY KEY,
  conversation_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  peer_ip TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  closed_at INTEGER,
  close_code INTEGER
);
CREATE INDEX connections_conversation ON connections(conversation_id);
CREATE TABLE turns (
  conversation_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  turn_id TEXT NOT NULL,
  reply_id TEXT NOT NULL,
  status TEXT NOT NULL,
  confirm_seq INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (conversation_id, message_id)
) WITHOUT ROWID;
CREATE INDEX turns_unfinished ON turns(status) WHERE status = 'received';
CREATE TABLE messages (
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  role TEXT NOT NULL,
  message_id TEXT NOT NULL,
  reply_to TEXT,
  content TEXT NOT NULL,
  timestamp TEXT NOT NULL,
  response_frame TEXT
);
CREATE UNIQUE INDEX messages_seq ON messages(conversation_id, seq);
CREATE INDEX messages_id ON messages(conversation_id, message_id);
CREATE TABLE images (
  conversation_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  image_id TEXT NOT NULL,
  mime_type TEXT NOT NULL,
  filename TEXT,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  size INTEGER NOT NULL,
  bytes BLOB,
  PRIMARY KEY (conversation_id, message_id, position)
);
CREATE TABLE events (
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  ref_id TEXT NOT NULL,
  reply_to TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  frame TEXT NOT NULL
);
CREATE UNIQUE INDEX events_seq ON events(conversation_id, seq);
CREATE INDEX events_ref ON events(conversation_id, ref_id);
CREATE INDEX events_reply ON events(conversation_id, reply_to);
CREATE INDEX events_created ON events(created_at);
CREATE TABLE components (
  conversation_id TEXT NOT NULL,
  component_id TEXT NOT NULL,
  reply_to TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, component_id)
) WITHOUT ROWID;
)sql";

// Version 1 -> 2 (issue 17): conversations get an owner (the ticket's user,
// else the clientId that started it; see conversation_owner), a title, an
// archived flag, application metadata and updated_at (newest first in
// list_conversations); messages get a parent (branches), a reply version and
// metadata. Existing rows: parent = the message before it (one branch),
// every reply version 1, updated_at = the conversation's newest event.
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE conversations ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN title TEXT;
ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE conversations ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE conversations SET
  owner = CASE WHEN user_id <> '' THEN 'u:' || user_id ELSE 'c:' || client_id END,
  updated_at = COALESCE((SELECT MAX(e.created_at) FROM events e WHERE e.conversation_id = conversations.id),
                        created_at);
-- Not on updated_at: every event moves it, and an index on it would be
-- rewritten twice per turn; an owner's list is sorted when asked for.
CREATE INDEX conversations_owner ON conversations(owner);
ALTER TABLE messages ADD COLUMN parent_id TEXT;
ALTER TABLE messages ADD COLUMN version INTEGER;
ALTER TABLE messages ADD COLUMN metadata TEXT;
UPDATE messages SET parent_id = (
  SELECT p.message_id FROM messages p
  WHERE p.conversation_id = messages.conversation_id AND p.seq < messages.seq ORDER BY p.seq DESC LIMIT 1);
UPDATE messages SET version = 1 WHERE role = 'assistant';
CREATE INDEX messages_parent ON messages(conversation_id, parent_id);
)sql";

constexpr const char* kMigrations[] = {kSchemaV1, kSchemaV2};

constexpr const char* kStatusNames[] = {"received", "completed", "cancelled", "failed", "abandoned"};

TurnStatus status_from_name(const std::string& name) {
  for (int i = 0; i < 5; ++i) {
    if (name == kStatusNames[i]) return static_cast<TurnStatus>(i);
  }
  return TurnStatus::abandoned;
}

}  // namespace

const char* turn_status_name(TurnStatus status) { return kStatusNames[static_cast<int>(status)]; }

std::string conversation_owner(std::string_view client_id, std::string_view user_id) {
  return user_id.empty() ? "c:" + std::string(client_id) : "u:" + std::string(user_id);
}

// Returns the error of a failed Result expression.
#define CW_TRY(expr)                    \
  do {                                  \
    auto cw_r_ = (expr);                \
    if (!cw_r_) return cw_r_.error();   \
  } while (0)

// Runs a statement without rows to its end; its error names `what`.
#define CW_RUN(s, what)                                        \
  do {                                                         \
    auto cw_r_ = (s)->run();                                   \
    if (!cw_r_) return store_error(cw_r_.error(), what);       \
  } while (0)

namespace {

Error store_error(const Error& cause, const char* what) {
  return Error(cause.code, std::string("store: ") + what + ": " + cause.message);
}

// begin() + commit()/rollback() around a scope.
class BatchGuard {
 public:
  explicit BatchGuard(ServerStore& s) : s_(s) {}
  Result<bool> begin() {
    auto r = s_.begin();
    started_ = r.ok();
    return r;
  }
  Result<bool> commit() {
    started_ = false;
    return s_.commit();
  }
  ~BatchGuard() {
    if (started_) s_.rollback();
  }

 private:
  ServerStore& s_;
  bool started_ = false;
};

}  // namespace

ServerStore::ServerStore(std::unique_ptr<Database> db, ServerStoreOptions options)
    : db_(std::move(db)), options_(options) {}

ServerStore::~ServerStore() = default;

int ServerStore::schema_version() { return kSchemaVersion; }

Result<std::unique_ptr<ServerStore>> ServerStore::open(const std::string& path, ServerStoreOptions options) {
  auto db = Database::open(path, 5000);
  if (!db) return Error(ErrorCode::internal, "store: " + db.error().message);
  std::unique_ptr<ServerStore> store(new ServerStore(std::move(*db), options));
  store->path_ = path;
  auto opened = store->open_checked();
  if (!opened) {
    Error e = opened.error();
    const std::string prefix = "store: ";
    if (e.message.compare(0, prefix.size(), prefix) == 0) e.message.erase(0, prefix.size());
    e.message = "store: database '" + path + "': " + e.message;
    return e;
  }
  return store;
}

Result<bool> ServerStore::open_checked() {
  if (path_ != ":memory:" && !path_.empty()) {
    if (sqlite3_db_readonly(db_->handle(), "main") == 1) {
      return Error(ErrorCode::internal, "store: the file is read-only (the server must be able to write it and its directory)");
    }
    CW_TRY(db_->exec("PRAGMA journal_mode=WAL"));
    CW_TRY(db_->exec("PRAGMA synchronous=NORMAL"));
    // A turn touches ~10 index and table pages; a group of turns (begin_group)
    // many more. With SQLite's default 2 MB cache they spill to the WAL in the
    // middle of the transaction and are read back: 32 MB keeps them in memory.
    CW_TRY(db_->exec("PRAGMA cache_size=-32768"));
    CW_TRY(db_->exec("PRAGMA temp_store=MEMORY"));  // savepoint journals of batches inside a group
    if (options_.max_bytes > 0) {
      auto st = db_->prepare("PRAGMA page_size");
      if (!st) return st.error();
      int64_t page_size = 4096;
      {
        ScopedStatement q(*st);
        auto row = q->step();
        if (row && *row) page_size = q->int64(0);
      }
      const int64_t pages = std::max<int64_t>(1, options_.max_bytes / page_size);
      CW_TRY(db_->exec("PRAGMA max_page_count=" + std::to_string(pages)));
    }
    if (options_.external_checkpoint) {
      // Replaces SQLite's automatic checkpoint hook: record the WAL size only.
      sqlite3_wal_hook(
          db_->handle(),
          [](void* self, sqlite3*, const char*, int pages) {
            static_cast<ServerStore*>(self)->wal_pages_ = pages;
            return SQLITE_OK;
          },
          this);
    }
  }
  CW_TRY(db_->migrate(kMigrations, kSchemaVersion, "store: database"));
  return verify();
}

Result<bool> ServerStore::verify() {
  {
    auto st = db_->prepare("PRAGMA quick_check(1)");
    if (!st) return st.error();
    ScopedStatement s(*st);
    auto row = s->step();
    if (!row) return store_error(row.error(), "quick_check");
    const std::string verdict = *row ? s->text(0) : std::string("no answer");
    if (verdict != "ok") return Error(ErrorCode::internal, "store: the file is corrupt (quick_check: " + verdict + ")");
  }
  // The write check runs outside the statement cache: these run once.
  CW_TRY(db_->exec("BEGIN IMMEDIATE"));
  auto wrote = db_->exec("CREATE TABLE cw_write_check (x INTEGER); INSERT INTO cw_write_check VALUES (1)");
  db_->exec("ROLLBACK");
  if (!wrote) return Error(ErrorCode::internal, "store: " + wrote.error().message + " (a test write failed)");
  return true;
}

Result<int64_t> ServerStore::checkpoint_file(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    Error e(ErrorCode::internal, "store: checkpoint: cannot open '" + path + "': " +
                                     (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 5000);
  // A new connection learns the file is in WAL mode on its first read;
  // before that, a checkpoint is a silent no-op.
  sqlite3_exec(db, "PRAGMA schema_version", nullptr, nullptr, nullptr);
  int frames = 0;
  const int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, nullptr);
  Result<int64_t> out = int64_t{frames};
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
    out = Error(ErrorCode::internal, std::string("store: checkpoint: ") + sqlite3_errmsg(db));
  }
  sqlite3_close(db);
  return out;
}

// ------------------------------------------------------------------ batches

Result<bool> ServerStore::begin() { return db_->begin(); }
Result<bool> ServerStore::commit() { return db_->commit(); }
void ServerStore::rollback() { db_->rollback(); }
Result<bool> ServerStore::begin_group() { return db_->begin_group(); }
Result<bool> ServerStore::commit_group() { return db_->commit_group(); }
bool ServerStore::in_group() const { return db_->in_group(); }

Result<bool> ServerStore::checkpoint() {
  if (db_->in_group() || db_->in_batch()) {
    return Error(ErrorCode::internal, "store: checkpoint inside a transaction");
  }
  const int rc = sqlite3_wal_checkpoint_v2(db_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) return db_->error("checkpoint");
  return true;
}

// ------------------------------------------------------------------ conversations

Result<bool> ServerStore::create_conversation(std::string_view id, std::string_view client_id,
                                              std::string_view user_id, int64_t now) {
  auto st = db_->prepare(
      "INSERT INTO conversations (id, client_id, user_id, created_at, owner, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?4)");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, id).bind(2, client_id).bind(3, user_id).bind(4, now).bind(5, conversation_owner(client_id, user_id));
  CW_RUN(s, "create conversation");
  return true;
}

#define CW_CONVERSATION_SELECT                                                                  \
  "SELECT id, client_id, user_id, created_at, last_seq, pruned_through, owner, title, archived, " \
  "metadata, updated_at FROM conversations "

namespace {
ConversationRecord conversation_from(const Statement& st) {
  ConversationRecord c;
  c.id = st.text(0);
  c.client_id = st.text(1);
  c.user_id = st.text(2);
  c.created_at_ms = st.int64(3);
  c.last_seq = st.int64(4);
  c.pruned_through = st.int64(5);
  c.owner = st.text(6);
  c.title = st.optional_text(7);
  c.archived = st.int64(8) != 0;
  c.metadata = st.text(9);
  c.updated_at_ms = st.int64(10);
  return c;
}

// At most `chars` UTF-8 characters of `text`.
std::string first_chars(const std::string& text, size_t chars) {
  size_t i = 0;
  for (size_t n = 0; i < text.size() && n < chars; ++n) {
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
  }
  return text.substr(0, i);
}

// "<updated_at>.<id>": the position of a listed conversation.
std::string cursor_of(const ConversationRecord& c) { return std::to_string(c.updated_at_ms) + "." + c.id; }

bool parse_cursor(std::string_view cursor, int64_t& updated_at, std::string& id) {
  const size_t dot = cursor.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot > 19 || dot + 1 >= cursor.size()) return false;
  int64_t v = 0;
  for (size_t i = 0; i < dot; ++i) {
    if (cursor[i] < '0' || cursor[i] > '9') return false;
    v = v * 10 + (cursor[i] - '0');
  }
  updated_at = v;
  id = std::string(cursor.substr(dot + 1));
  return true;
}
}  // namespace

Result<std::optional<ConversationRecord>> ServerStore::find_conversation(std::string_view id) {
  auto st = db_->prepare(CW_CONVERSATION_SELECT "WHERE id = ?1");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, id);
  auto row = s->step();
  if (!row) return store_error(row.error(), "find conversation");
  if (!*row) return std::optional<ConversationRecord>();
  return std::optional<ConversationRecord>(conversation_from(*s));
}

Result<ConversationPage> ServerStore::list_conversations(std::string_view owner, int limit,
                                                         std::string_view before) {
  limit = std::clamp(limit, 1, 100);
  int64_t before_at = INT64_MAX;
  std::string before_id;
  if (!before.empty() && !parse_cursor(before, before_at, before_id)) {
    return Error(ErrorCode::invalid_field, "before is not a cursor of list_conversations");
  }
  ConversationPage page;
  {
    auto st = db_->prepare(CW_CONVERSATION_SELECT
                           "WHERE owner = ?1 AND (updated_at < ?2 OR (updated_at = ?2 AND id < ?3)) "
                           "AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id) "
                           "ORDER BY updated_at DESC, id DESC LIMIT ?4");
    if (!st) return st.error();
    ScopedStatement s(*st);
    // Without a cursor: every id sorts below the largest code point.
    s->bind(1, owner).bind(2, before_at).bind(3, before.empty() ? std::string("\xF4\x8F\xBF\xBF") : before_id);
    s->bind(4, int64_t{limit} + 1);
    for (;;) {
      auto row = s->step();
      if (!row) return store_error(row.error(), "list conversations");
      if (!*row) break;
      if (static_cast<int>(page.items.size()) == limit) {
        page.has_more = true;
        break;
      }
      page.items.push_back(ConversationSummary{conversation_from(*s), std::nullopt});
    }
  }
  for (auto& item : page.items) {
    auto st = db_->prepare(
        "SELECT role, content, timestamp FROM messages WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT 1");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, item.conversation.id);
    auto row = s->step();
    if (!row) return store_error(row.error(), "read last message");
    if (*row) item.last_message = LastMessage{s->text(0), first_chars(s->text(1), kLastMessageChars), s->text(2)};
  }
  if (page.has_more) page.cursor = cursor_of(page.items.back().conversation);
  return page;
}

Result<bool> ServerStore::update_conversation(std::string_view id, const ConversationUpdate& u, int64_t now) {
  auto st = db_->prepare(
      "UPDATE conversations SET title = CASE WHEN ?2 THEN ?3 ELSE title END, "
      "archived = COALESCE(?4, archived), metadata = COALESCE(?5, metadata), updated_at = ?6 WHERE id = ?1");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, id).bind(2, int64_t{u.title.has_value()});
  if (u.title && *u.title) s->bind(3, **u.title);
  else s->bind_null(3);
  if (u.archived) s->bind(4, int64_t{*u.archived});
  else s->bind_null(4);
  if (u.metadata) s->bind(5, *u.metadata);
  else s->bind_null(5);
  s->bind(6, now);
  CW_RUN(s, "update conversation");
  return db_->changes() == 1;
}

Result<bool> ServerStore::delete_conversation(std::string_view id) {
  BatchGuard batch(*this);
  CW_TRY(batch.begin());
  bool found = false;
  for (const char* table : {"events", "turns", "messages", "images", "components", "conversations"}) {
    const std::string column = std::string(table) == "conversations" ? "id" : "conversation_id";
    auto st = db_->prepare("DELETE FROM " + std::string(table) + " WHERE " + column + " = ?1");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, id);
    CW_RUN(s, "delete conversation");
    if (column == "id") found = db_->changes() == 1;
  }
  CW_TRY(batch.commit());
  return found;
}

Result<bool> ServerStore::owns(std::string_view conversation_id, std::string_view client_id,
                               std::string_view user_id) {
  auto st = db_->prepare("SELECT 1 FROM conversations WHERE id = ?1 AND client_id = ?2 AND user_id = ?3");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, client_id).bind(3, user_id);
  auto row = s->step();
  if (!row) return store_error(row.error(), "ownership check");
  return *row;
}

// ------------------------------------------------------------------ connections

Result<bool> ServerStore::connection_opened(std::string_view connection_id, std::string_view conversation_id,
                                            std::string_view client_id, std::string_view user_id,
                                            std::string_view peer_ip, int64_t now) {
  auto st = db_->prepare(
      "INSERT INTO connections (id, conversation_id, client_id, user_id, peer_ip, opened_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, connection_id).bind(2, conversation_id).bind(3, client_id).bind(4, user_id).bind(5, peer_ip);
  s->bind(6, now);
  CW_RUN(s, "record connection");
  return true;
}

Result<bool> ServerStore::connection_closed(std::string_view connection_id, int code, int64_t now) {
  auto st = db_->prepare("UPDATE connections SET closed_at = ?2, close_code = ?3 WHERE id = ?1");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, connection_id).bind(2, now).bind(3, code);
  CW_RUN(s, "record connection close");
  return true;
}

// ------------------------------------------------------------------ events

#define CW_EVENT_SELECT "SELECT conversation_id, seq, kind, ref_id, reply_to, created_at, frame FROM events "

Result<EventRecord> ServerStore::append_event(std::string_view conversation_id, std::string_view kind,
                                              std::string_view ref_id, std::string_view reply_to, int64_t now,
                                              const std::function<std::string(int64_t)>& frame_for_seq) {
  BatchGuard batch(*this);
  CW_TRY(batch.begin());
  EventRecord e;
  e.conversation_id = std::string(conversation_id);
  {
    auto st = db_->prepare("UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?2 WHERE id = ?1");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, now);
    CW_RUN(s, "allocate seq");
    if (db_->changes() != 1) {
      return Error(ErrorCode::not_found, "store: unknown conversation '" + std::string(conversation_id) + "'");
    }
  }
  {
    auto st = db_->prepare("SELECT last_seq FROM conversations WHERE id = ?1");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id);
    auto row = s->step();
    if (!row || !*row) return row ? Error(ErrorCode::internal, "store: read seq: no row") : store_error(row.error(), "read seq");
    e.seq = s->int64(0);
  }
  e.kind = std::string(kind);
  e.ref_id = std::string(ref_id);
  e.reply_to = std::string(reply_to);
  e.created_at_ms = now;
  e.frame = frame_for_seq(e.seq);
  {
    auto st = db_->prepare(
        "INSERT INTO events (conversation_id, seq, kind, ref_id, reply_to, created_at, frame) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, e.conversation_id).bind(2, e.seq).bind(3, e.kind).bind(4, e.ref_id).bind(5, e.reply_to);
    s->bind(6, e.created_at_ms).bind(7, e.frame);
    CW_RUN(s, "store event");
  }
  CW_TRY(batch.commit());
  return e;
}

namespace {
EventRecord event_from(const Statement& st) {
  auto text = [&](int c) { return st.text(c); };
  EventRecord e;
  e.conversation_id = text(0);
  e.seq = st.int64(1);
  e.kind = text(2);
  e.ref_id = text(3);
  e.reply_to = text(4);
  e.created_at_ms = st.int64(5);
  e.frame = text(6);
  return e;
}
}  // namespace

Result<Replay> ServerStore::events_after(std::string_view conversation_id, int64_t after_seq, int64_t now,
                                         const RetentionPolicy& retention) {
  CW_TRY(prune_conversation(conversation_id, now, retention));
  auto conv = find_conversation(conversation_id);
  if (!conv) return conv.error();
  if (!*conv) {
    return Error(ErrorCode::not_found, "store: unknown conversation '" + std::string(conversation_id) + "'");
  }
  Replay out;
  out.recovered = after_seq >= (*conv)->pruned_through && after_seq <= (*conv)->last_seq;
  auto st = db_->prepare(CW_EVENT_SELECT "WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, after_seq);
  for (;;) {
    auto row = s->step();
    if (!row) return store_error(row.error(), "read events");
    if (!*row) break;
    out.events.push_back(event_from(*s));
  }
  return out;
}

Result<std::vector<EventRecord>> ServerStore::events_for_message(std::string_view conversation_id,
                                                                 std::string_view message_id) {
  auto st = db_->prepare(CW_EVENT_SELECT
                    "WHERE conversation_id = ?1 AND (ref_id = ?2 OR reply_to = ?2) ORDER BY seq");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, message_id);
  std::vector<EventRecord> out;
  for (;;) {
    auto row = s->step();
    if (!row) return store_error(row.error(), "read message events");
    if (!*row) break;
    out.push_back(event_from(*s));
  }
  return out;
}

Result<std::optional<EventRecord>> ServerStore::find_event(std::string_view conversation_id,
                                                           std::string_view kind, std::string_view ref_id) {
  auto st = db_->prepare(CW_EVENT_SELECT
                    "WHERE conversation_id = ?1 AND ref_id = ?2 AND kind = ?3 ORDER BY seq LIMIT 1");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, ref_id).bind(3, kind);
  auto row = s->step();
  if (!row) return store_error(row.error(), "find event");
  if (!*row) return std::optional<EventRecord>();
  return std::optional<EventRecord>(event_from(*s));
}

// Removes the prefix of a conversation's events up to `cut`, if that moves
// pruned_through forward. Returns the number of events deleted.
Result<int64_t> ServerStore::apply_cut(std::string_view conversation_id, int64_t cut) {
  {
    auto st = db_->prepare("UPDATE conversations SET pruned_through = ?2 WHERE id = ?1 AND pruned_through < ?2");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, cut);
    CW_RUN(s, "prune");
    if (db_->changes() == 0) return int64_t{0};
  }
  auto st = db_->prepare("DELETE FROM events WHERE conversation_id = ?1 AND seq <= ?2");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, cut);
  CW_RUN(s, "prune");
  return int64_t{db_->changes()};
}

Result<int64_t> ServerStore::prune_one(std::string_view conversation_id, int64_t now,
                                       const RetentionPolicy& retention) {
  int64_t cut = 0;
  if (retention.max_age_ms > 0) {
    auto st = db_->prepare("SELECT MAX(seq) FROM events WHERE conversation_id = ?1 AND created_at < ?2");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, now - retention.max_age_ms);
    auto row = s->step();
    if (!row) return store_error(row.error(), "prune by age");
    if (*row && !s->is_null(0)) cut = s->int64(0);
  }
  if (retention.max_events > 0) {
    auto st = db_->prepare("SELECT last_seq FROM conversations WHERE id = ?1");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id);
    auto row = s->step();
    if (!row) return store_error(row.error(), "prune by count");
    if (*row) cut = std::max(cut, s->int64(0) - retention.max_events);
  }
  if (cut <= 0) return int64_t{0};
  return apply_cut(conversation_id, cut);
}

Result<int64_t> ServerStore::prune_conversation(std::string_view conversation_id, int64_t now,
                                                const RetentionPolicy& retention) {
  if (retention.max_age_ms <= 0 && retention.max_events <= 0) return int64_t{0};
  BatchGuard batch(*this);
  CW_TRY(batch.begin());
  auto n = prune_one(conversation_id, now, retention);
  if (!n) return n.error();
  CW_TRY(batch.commit());
  return *n;
}

Result<int64_t> ServerStore::prune(int64_t now, const RetentionPolicy& retention) {
  if (retention.max_age_ms <= 0 && retention.max_events <= 0) return int64_t{0};
  std::map<std::string, int64_t> cuts;
  if (retention.max_age_ms > 0) {
    auto st = db_->prepare("SELECT conversation_id, MAX(seq) FROM events WHERE created_at < ?1 GROUP BY conversation_id");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, now - retention.max_age_ms);
    for (;;) {
      auto row = s->step();
      if (!row) return store_error(row.error(), "prune by age");
      if (!*row) break;
      cuts[s->text(0)] = s->int64(1);
    }
  }
  if (retention.max_events > 0) {
    auto st = db_->prepare("SELECT id, last_seq - ?1 FROM conversations WHERE last_seq - ?1 > pruned_through");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, retention.max_events);
    for (;;) {
      auto row = s->step();
      if (!row) return store_error(row.error(), "prune by count");
      if (!*row) break;
      int64_t& cut = cuts[s->text(0)];
      cut = std::max(cut, s->int64(1));
    }
  }
  if (cuts.empty()) return int64_t{0};
  BatchGuard batch(*this);
  CW_TRY(batch.begin());
  int64_t deleted = 0;
  for (const auto& [conv, cut] : cuts) {
    auto n = apply_cut(conv, cut);
    if (!n) return n.error();
    deleted += *n;
  }
  CW_TRY(batch.commit());
  return deleted;
}

// ------------------------------------------------------------------ turns

namespace {
TurnRecord turn_from(const Statement& st) {
  auto text = [&](int c) { return st.text(c); };
  TurnRecord t;
  t.conversation_id = text(0);
  t.message_id = text(1);
  t.turn_id = text(2);
  t.reply_id = text(3);
  t.status = status_from_name(text(4));
  t.confirm_seq = st.int64(5);
  t.received_at_ms = st.int64(6);
  t.finished_at_ms = st.int64(7);
  return t;
}
}  // namespace

#define CW_TURN_SELECT                                                                                   \
  "SELECT conversation_id, message_id, turn_id, reply_id, status, confirm_seq, received_at, finished_at " \
  "FROM turns "

Result<std::optional<TurnRecord>> ServerStore::find_turn(std::string_view conversation_id,
                                                         std::string_view message_id) {
  auto st = db_->prepare(CW_TURN_SELECT "WHERE conversation_id = ?1 AND message_id = ?2");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, message_id);
  auto row = s->step();
  if (!row) return store_error(row.error(), "find turn");
  if (!*row) return std::optional<TurnRecord>();
  return std::optional<TurnRecord>(turn_from(*s));
}

Result<bool> ServerStore::put_turn(const TurnRecord& t) {
  auto st = db_->prepare(
      "INSERT OR REPLACE INTO turns (conversation_id, message_id, turn_id, reply_id, status, confirm_seq, "
      "received_at, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, t.conversation_id).bind(2, t.message_id).bind(3, t.turn_id).bind(4, t.reply_id);
  s->bind(5, turn_status_name(t.status)).bind(6, t.confirm_seq).bind(7, t.received_at_ms);
  s->bind(8, t.finished_at_ms);
  CW_RUN(s, "store turn");
  return true;
}

Result<bool> ServerStore::finish_turn(std::string_view conversation_id, std::string_view message_id,
                                      TurnStatus status, int64_t now) {
  auto st = db_->prepare("UPDATE turns SET status = ?3, finished_at = ?4 WHERE conversation_id = ?1 AND message_id = ?2");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, message_id).bind(3, turn_status_name(status)).bind(4, now);
  CW_RUN(s, "finish turn");
  return db_->changes() == 1;
}

Result<std::vector<TurnRecord>> ServerStore::unfinished_turns() {
  auto st = db_->prepare(CW_TURN_SELECT "WHERE status = 'received' ORDER BY received_at");
  if (!st) return st.error();
  ScopedStatement s(*st);
  std::vector<TurnRecord> out;
  for (;;) {
    auto row = s->step();
    if (!row) return store_error(row.error(), "read unfinished turns");
    if (!*row) break;
    out.push_back(turn_from(*s));
  }
  return out;
}

// ------------------------------------------------------------------ history

Result<bool> ServerStore::put_user_message(std::string_view conversation_id, int64_t seq,
                                           const UserMessageRecord& m) {
  BatchGuard batch(*this);
  CW_TRY(batch.begin());
  {
    auto st = db_->prepare("DELETE FROM messages WHERE conversation_id = ?1 AND message_id = ?2 AND role = 'user'");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, m.message_id);
    CW_RUN(s, "replace message");
  }
  {
    auto st = db_->prepare("DELETE FROM images WHERE conversation_id = ?1 AND message_id = ?2");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, m.message_id);
    CW_RUN(s, "replace images");
  }
  {
    auto st = db_->prepare(
        "INSERT INTO messages (conversation_id, seq, role, message_id, reply_to, content, timestamp, parent_id, "
        "metadata) VALUES (?1, ?2, 'user', ?3, NULL, ?4, ?5, ?6, ?7)");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, seq).bind(3, m.message_id).bind(4, m.content).bind(5, m.timestamp);
    s->bind(6, m.parent_id);
    if (m.metadata.empty()) s->bind_null(7);
    else s->bind(7, m.metadata);
    CW_RUN(s, "store message");
  }
  for (size_t i = 0; i < m.images.size(); ++i) {
    const ImageRecord& img = m.images[i];
    auto st = db_->prepare(
        "INSERT INTO images (conversation_id, message_id, position, image_id, mime_type, filename, width, "
        "height, size, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, m.message_id).bind(3, static_cast<int64_t>(i)).bind(4, img.id);
    s->bind(5, img.mime_type).bind(6, img.filename).bind(7, int64_t{img.width}).bind(8, int64_t{img.height});
    s->bind(9, static_cast<int64_t>(img.size));
    // No bytes kept (or none given): NULL, not an empty blob.
    if (options_.store_image_bytes && !img.bytes.empty()) s->bind_blob(10, img.bytes);
    else s->bind_null(10);
    CW_RUN(s, "store image");
  }
  return batch.commit();
}

Result<bool> ServerStore::put_assistant_message(std::string_view conversation_id,
                                                const protocol::Response& r) {
  auto st = db_->prepare(
      "INSERT OR REPLACE INTO messages (conversation_id, seq, role, message_id, reply_to, content, timestamp, "
      "response_frame, parent_id, version) VALUES (?1, ?2, 'assistant', ?3, ?4, ?5, ?6, ?7, ?4, "
      "(SELECT COUNT(*) + 1 FROM messages WHERE conversation_id = ?1 AND role = 'assistant' AND reply_to = ?4 "
      "AND message_id <> ?3))");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, r.seq).bind(3, r.message_id).bind(4, r.reply_to).bind(5, r.content);
  s->bind(6, r.timestamp).bind(7, protocol::encode(protocol::ServerFrame{r}));
  CW_RUN(s, "store response");
  return true;
}

Result<std::vector<ImageRecord>> ServerStore::message_images(std::string_view conversation_id,
                                                             std::string_view message_id) {
  auto st = db_->prepare(
      "SELECT image_id, mime_type, filename, width, height, size, bytes FROM images "
      "WHERE conversation_id = ?1 AND message_id = ?2 ORDER BY position");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, message_id);
  std::vector<ImageRecord> out;
  for (;;) {
    auto row = s->step();
    if (!row) return store_error(row.error(), "read images");
    if (!*row) break;
    ImageRecord img;
    img.id = s->text(0);
    img.mime_type = s->text(1);
    img.filename = s->optional_text(2);
    img.width = static_cast<uint32_t>(s->int64(3));
    img.height = static_cast<uint32_t>(s->int64(4));
    img.size = static_cast<uint64_t>(s->int64(5));
    img.bytes = s->blob(6);
    out.push_back(std::move(img));
  }
  return out;
}

namespace {

// Encoded size of one entry inside a history frame (its share of the frame).
size_t entry_bytes(const protocol::History& envelope, size_t envelope_bytes, const protocol::HistoryEntry& e) {
  protocol::History one{envelope.conversation_id, {e}, false};
  return protocol::encode(protocol::ServerFrame{std::move(one)}).size() - envelope_bytes;
}

// Cuts e.content (at a UTF-8 boundary) until the entry takes at most `budget`
// bytes; false when even an empty content does not fit.
bool cut_to_fit(const protocol::History& envelope, size_t envelope_bytes, protocol::HistoryEntry& e,
                size_t budget) {
  e.truncated = true;
  const std::string full = std::move(e.content);
  size_t lo = 0, hi = full.size();  // lo fits (checked below), hi is the first candidate
  e.content.clear();
  if (entry_bytes(envelope, envelope_bytes, e) > budget) return false;
  while (lo < hi) {
    size_t mid = lo + (hi - lo + 1) / 2;
    while (mid > lo && mid < full.size() && (static_cast<unsigned char>(full[mid]) & 0xC0) == 0x80) --mid;
    if (mid == lo) break;
    e.content.assign(full, 0, mid);
    if (entry_bytes(envelope, envelope_bytes, e) <= budget) lo = mid;
    else hi = mid - 1;
  }
  e.content.assign(full, 0, lo);
  return true;
}

}  // namespace

Result<HistoryPage> ServerStore::load_messages(std::string_view conversation_id,
                                               std::optional<int64_t> before_seq, int limit, size_t max_bytes) {
  limit = std::clamp(limit, 1, 200);
  HistoryPage page;
  const protocol::History envelope{std::string(conversation_id), {}, false};  // hasMore:false is the longer one
  const size_t envelope_bytes = protocol::encode(protocol::ServerFrame{envelope}).size();
  size_t total = envelope_bytes;
  {
    auto st = db_->prepare(
        "SELECT seq, role, message_id, reply_to, content, timestamp, response_frame, parent_id, version, metadata "
        "FROM messages WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, before_seq.value_or(INT64_MAX)).bind(3, limit + 1);
    for (;;) {
      auto row = s->step();
      if (!row) return store_error(row.error(), "load messages");
      if (!*row) break;
      if (static_cast<int>(page.messages.size()) == limit) {
        page.has_more = true;
        break;
      }
      protocol::HistoryEntry e;
      e.seq = s->int64(0);
      e.role = s->text(1);
      e.message_id = s->text(2);
      e.reply_to = s->optional_text(3);
      e.content = s->text(4);
      e.timestamp = s->text(5);
      e.parent_id = s->optional_text(7);
      if (e.role == "assistant") e.version = s->int64(8) > 0 ? s->int64(8) : 1;
      if (auto metadata = s->optional_text(9)) e.metadata = protocol::RawJson{*metadata};
      if (auto frame = s->optional_text(6)) {
        auto decoded = protocol::decode_server_frame(*frame, Limits{});
        if (decoded && std::holds_alternative<protocol::Response>(*decoded)) {
          auto& r = std::get<protocol::Response>(*decoded);
          e.image_analysis = std::move(r.image_analysis);
          e.citations = std::move(r.citations);
          e.cancelled = r.cancelled;
          if (r.metadata) e.metadata = std::move(r.metadata);
        }
      }
      if (e.role == "user") {
        auto images = message_images(conversation_id, e.message_id);
        if (!images) return images.error();
        for (auto& img : *images) e.images.push_back(protocol::HistoryImage{img.id, img.mime_type, img.filename});
      }
      if (max_bytes > 0) {
        const size_t comma = page.messages.empty() ? 0 : 1;
        const size_t bytes = entry_bytes(envelope, envelope_bytes, e) + comma;
        if (total + bytes > max_bytes) {
          if (!page.messages.empty()) {
            page.has_more = true;  // this one and older: the next page
            break;
          }
          if (max_bytes < total || !cut_to_fit(envelope, envelope_bytes, e, max_bytes - total)) {
            return Error(ErrorCode::internal, "store: a history frame of " + std::to_string(max_bytes) +
                                                  " bytes cannot hold one message");
          }
          total += entry_bytes(envelope, envelope_bytes, e);
        } else {
          total += bytes;
        }
      }
      page.messages.push_back(std::move(e));
    }
  }
  std::reverse(page.messages.begin(), page.messages.end());
  return page;
}

// ------------------------------------------------------------------ branches

Result<bool> ServerStore::has_message(std::string_view conversation_id, std::string_view message_id) {
  auto st = db_->prepare("SELECT 1 FROM messages WHERE conversation_id = ?1 AND message_id = ?2");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, message_id);
  auto row = s->step();
  if (!row) return store_error(row.error(), "find message");
  return *row;
}

Result<std::optional<std::string>> ServerStore::active_leaf(std::string_view conversation_id) {
  std::optional<std::string> at;  // nullopt: the roots
  for (;;) {
    auto st = db_->prepare(
        "SELECT message_id FROM messages WHERE conversation_id = ?1 AND parent_id IS ?2 ORDER BY seq DESC LIMIT 1");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, at);
    auto row = s->step();
    if (!row) return store_error(row.error(), "read active branch");
    if (!*row) return at;
    at = s->text(0);
  }
}

Result<std::vector<BranchMessage>> ServerStore::message_branch(std::string_view conversation_id,
                                                               std::string_view message_id, int limit) {
  std::vector<BranchMessage> out;  // newest first while walking up
  std::optional<std::string> at = std::string(message_id);
  while (at && (limit <= 0 || static_cast<int>(out.size()) < limit)) {
    auto st = db_->prepare(
        "SELECT seq, role, message_id, content, response_frame, parent_id FROM messages "
        "WHERE conversation_id = ?1 AND message_id = ?2 ORDER BY seq DESC LIMIT 1");
    if (!st) return st.error();
    ScopedStatement s(*st);
    s->bind(1, conversation_id).bind(2, *at);
    auto row = s->step();
    if (!row) return store_error(row.error(), "read branch");
    if (!*row) break;
    BranchMessage m;
    m.seq = s->int64(0);
    m.role = s->text(1);
    m.message_id = s->text(2);
    m.content = s->text(3);
    m.response_frame = s->optional_text(4).value_or("");
    at = s->optional_text(5);
    // A parent is always older; a link that does not go back is corrupt data, not a loop to follow.
    if (!out.empty() && m.seq >= out.back().seq) break;
    out.push_back(std::move(m));
  }
  for (auto& m : out) {
    if (m.role != "user") continue;
    auto images = message_images(conversation_id, m.message_id);
    if (!images) return images.error();
    m.images = std::move(*images);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<int64_t> ServerStore::reply_count(std::string_view conversation_id, std::string_view user_message_id) {
  auto st = db_->prepare(
      "SELECT COUNT(*) FROM messages WHERE conversation_id = ?1 AND role = 'assistant' AND reply_to = ?2");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, user_message_id);
  auto row = s->step();
  if (!row) return store_error(row.error(), "count replies");
  return *row ? s->int64(0) : int64_t{0};
}

// ------------------------------------------------------------------ components

Result<bool> ServerStore::put_component(std::string_view conversation_id, std::string_view component_id,
                                        std::string_view reply_to, std::string_view kind, int64_t now) {
  auto st = db_->prepare(
      "INSERT OR IGNORE INTO components (conversation_id, component_id, reply_to, kind, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, component_id).bind(3, reply_to).bind(4, kind).bind(5, now);
  CW_RUN(s, "store component");
  return true;
}

Result<bool> ServerStore::has_component(std::string_view conversation_id, std::string_view component_id) {
  auto st = db_->prepare("SELECT 1 FROM components WHERE conversation_id = ?1 AND component_id = ?2");
  if (!st) return st.error();
  ScopedStatement s(*st);
  s->bind(1, conversation_id).bind(2, component_id);
  auto row = s->step();
  if (!row) return store_error(row.error(), "find component");
  return *row;
}

}  // namespace chatwire::store
