#include "core/store/server_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <climits>
#include <map>

#include "core/protocol/codec.h"
#include "core/protocol/limits.h"

namespace chatwire::store {

namespace {

constexpr int kSchemaVersion = 1;

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

constexpr const char* kMigrations[] = {kSchemaV1};

constexpr const char* kStatusNames[] = {"received", "completed", "cancelled", "failed", "abandoned"};

TurnStatus status_from_name(const std::string& name) {
  for (int i = 0; i < 5; ++i) {
    if (name == kStatusNames[i]) return static_cast<TurnStatus>(i);
  }
  return TurnStatus::abandoned;
}

}  // namespace

const char* turn_status_name(TurnStatus status) { return kStatusNames[static_cast<int>(status)]; }

// A cached prepared statement in use: binds, steps, reads columns, and resets
// itself when it goes out of scope so the cache can hand it out again.
class ServerStore::Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& text(int i, std::string_view v) {
    // A null data pointer would bind SQL NULL; an empty view is the empty text.
    sqlite3_bind_text(s_, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& opt_text(int i, const std::optional<std::string>& v) {
    if (v) return text(i, *v);
    sqlite3_bind_null(s_, i);
    return *this;
  }
  Stmt& integer(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& blob(int i, std::string_view v) {
    if (v.empty()) {
      sqlite3_bind_null(s_, i);
    } else {
      sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    return *this;
  }
  int step() { return sqlite3_step(s_); }

  std::string col_text(int c) const {
    const unsigned char* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, c)) : std::string();
  }
  std::optional<std::string> col_opt_text(int c) const {
    if (sqlite3_column_type(s_, c) == SQLITE_NULL) return std::nullopt;
    return col_text(c);
  }
  std::string col_blob(int c) const {
    const void* p = sqlite3_column_blob(s_, c);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(s_, c)) : std::string();
  }
  int64_t col_int(int c) const { return sqlite3_column_int64(s_, c); }
  bool col_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_;
};

// Returns the error of a failed Result expression.
#define CW_TRY(expr)                    \
  do {                                  \
    auto cw_r_ = (expr);                \
    if (!cw_r_) return cw_r_.error();   \
  } while (0)

namespace {
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

ServerStore::ServerStore(sqlite3* db, ServerStoreOptions options) : db_(db), options_(options) {}

ServerStore::~ServerStore() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

int ServerStore::schema_version() { return kSchemaVersion; }

Error ServerStore::sqlite_error(const char* what) const {
  return Error(ErrorCode::internal, std::string("store: ") + what + ": " + sqlite3_errmsg(db_));
}

Result<bool> ServerStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    Error e(ErrorCode::internal, std::string("store: ") + (msg ? msg : "exec failed"));
    sqlite3_free(msg);
    return e;
  }
  return true;
}

Result<sqlite3_stmt*> ServerStore::prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) return sqlite_error("prepare");
  statements_.emplace(sql, stmt);
  return stmt;
}

Result<std::unique_ptr<ServerStore>> ServerStore::open(const std::string& path, ServerStoreOptions options) {
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Error e(ErrorCode::internal, "store: cannot open '" + path + "': " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return e;
  }
  std::unique_ptr<ServerStore> store(new ServerStore(db, options));
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
  sqlite3* db = db_;
  const std::string& path = path_;
  const ServerStoreOptions& options = options_;
  ServerStore* self = this;
  if (path != ":memory:" && !path.empty()) {
    if (sqlite3_db_readonly(db, "main") == 1) {
      return Error(ErrorCode::internal, "store: the file is read-only (the server must be able to write it and its directory)");
    }
    CW_TRY(self->exec("PRAGMA journal_mode=WAL"));
    CW_TRY(self->exec("PRAGMA synchronous=NORMAL"));
    // A turn touches ~10 index and table pages; a group of turns (begin_group)
    // many more. With SQLite's default 2 MB cache they spill to the WAL in the
    // middle of the transaction and are read back: 32 MB keeps them in memory.
    CW_TRY(self->exec("PRAGMA cache_size=-32768"));
    CW_TRY(self->exec("PRAGMA temp_store=MEMORY"));  // savepoint journals of batches inside a group
    if (options.max_bytes > 0) {
      auto st = self->prepare("PRAGMA page_size");
      if (!st) return st.error();
      int64_t page_size = 4096;
      {
        Stmt q(*st);
        if (q.step() == SQLITE_ROW) page_size = q.col_int(0);
      }
      const int64_t pages = std::max<int64_t>(1, options.max_bytes / page_size);
      CW_TRY(self->exec(("PRAGMA max_page_count=" + std::to_string(pages)).c_str()));
    }
    if (options.external_checkpoint) {
      // Replaces SQLite's automatic checkpoint hook: record the WAL size only.
      sqlite3_wal_hook(
          db,
          [](void* self, sqlite3*, const char*, int pages) {
            static_cast<ServerStore*>(self)->wal_pages_ = pages;
            return SQLITE_OK;
          },
          self);
    }
  }
  sqlite3_busy_timeout(db, 5000);
  CW_TRY(self->migrate());
  return self->verify();
}

Result<bool> ServerStore::verify() {
  {
    auto st = prepare("PRAGMA quick_check(1)");
    if (!st) return st.error();
    Stmt s(*st);
    const int rc = s.step();
    if (rc != SQLITE_ROW) return sqlite_error("quick_check");
    const std::string verdict = s.col_text(0);
    if (verdict != "ok") return Error(ErrorCode::internal, "store: the file is corrupt (quick_check: " + verdict + ")");
  }
  // The write check runs outside the statement cache: these run once.
  CW_TRY(exec("BEGIN IMMEDIATE"));
  auto wrote = exec("CREATE TABLE cw_write_check (x INTEGER); INSERT INTO cw_write_check VALUES (1)");
  exec("ROLLBACK");
  if (!wrote) return Error(ErrorCode::internal, wrote.error().message + " (a test write failed)");
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

Result<bool> ServerStore::migrate() {
  int version = 0;
  {
    auto st = prepare("PRAGMA user_version");
    if (!st) return st.error();
    Stmt s(*st);
    if (s.step() == SQLITE_ROW) version = static_cast<int>(s.col_int(0));
  }
  if (version > kSchemaVersion) {
    return Error(ErrorCode::internal, "store: database schema version " + std::to_string(version) +
                                          " is newer than this chatwire (" + std::to_string(kSchemaVersion) + ")");
  }
  if (version == kSchemaVersion) return true;
  BatchGuard batch(*this);
  CW_TRY(batch.begin());
  for (int v = version; v < kSchemaVersion; ++v) CW_TRY(exec(kMigrations[v]));
  CW_TRY(exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str()));
  return batch.commit();
}

// ------------------------------------------------------------------ batches

Result<bool> ServerStore::run(const char* sql) {
  auto st = prepare(sql);
  if (!st) return st.error();
  Stmt s(*st);
  if (s.step() != SQLITE_DONE) return sqlite_error(sql);
  return true;
}

Result<bool> ServerStore::begin() {
  // SQLite rolls the whole transaction back by itself on some errors
  // (SQLITE_FULL, IOERR, NOMEM): the group is then gone, and a SAVEPOINT
  // now would start a transaction of its own outside it.
  if (in_group_ && group_lost()) return Error(ErrorCode::internal, "store: " + group_lost_);
  if (batch_depth_ == 0) CW_TRY(run(in_group_ ? "SAVEPOINT cw_batch" : "BEGIN IMMEDIATE"));
  ++batch_depth_;
  return true;
}

Result<bool> ServerStore::commit() {
  if (batch_depth_ == 0) return Error(ErrorCode::internal, "store: the batch was rolled back");
  if (--batch_depth_ == 0) {
    auto r = run(in_group_ ? "RELEASE cw_batch" : "COMMIT");
    if (!r) {
      if (in_group_) {
        run("ROLLBACK TO cw_batch");
        run("RELEASE cw_batch");
      } else {
        exec("ROLLBACK");
      }
      return r;
    }
  }
  return true;
}

void ServerStore::rollback() {
  if (batch_depth_ == 0) return;
  batch_depth_ = 0;
  if (in_group_ && group_lost()) return;
  if (in_group_) {
    run("ROLLBACK TO cw_batch");
    run("RELEASE cw_batch");
  } else {
    exec("ROLLBACK");
  }
}

Result<bool> ServerStore::begin_group() {
  if (in_group_ || batch_depth_ > 0) return Error(ErrorCode::internal, "store: a group cannot start inside a batch");
  CW_TRY(run("BEGIN IMMEDIATE"));
  in_group_ = true;
  group_lost_.clear();
  return true;
}

bool ServerStore::group_lost() {
  if (!group_lost_.empty()) return true;
  if (!sqlite3_get_autocommit(db_)) return false;
  group_lost_ = std::string("the transaction was rolled back by SQLite after: ") + sqlite3_errmsg(db_);
  return true;
}

Result<bool> ServerStore::commit_group() {
  if (!in_group_) return Error(ErrorCode::internal, "store: no group is open");
  rollback();  // a batch left open is a bug of the caller: it does not get committed half-done
  if (group_lost()) {
    in_group_ = false;
    return Error(ErrorCode::internal, "store: " + group_lost_);
  }
  in_group_ = false;
  auto r = run("COMMIT");
  if (!r) {
    exec("ROLLBACK");
    return r;
  }
  return true;
}

Result<bool> ServerStore::checkpoint() {
  if (in_group_ || batch_depth_ > 0) return Error(ErrorCode::internal, "store: checkpoint inside a transaction");
  const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) return sqlite_error("checkpoint");
  return true;
}

// ------------------------------------------------------------------ conversations

Result<bool> ServerStore::create_conversation(std::string_view id, std::string_view client_id,
                                              std::string_view user_id, int64_t now) {
  auto st = prepare(
      "INSERT INTO conversations (id, client_id, user_id, created_at) VALUES (?1, ?2, ?3, ?4)");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, id).text(2, client_id).text(3, user_id).integer(4, now);
  if (s.step() != SQLITE_DONE) return sqlite_error("create conversation");
  return true;
}

Result<std::optional<ConversationRecord>> ServerStore::find_conversation(std::string_view id) {
  auto st = prepare(
      "SELECT id, client_id, user_id, created_at, last_seq, pruned_through FROM conversations WHERE id = ?1");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<ConversationRecord>();
  if (rc != SQLITE_ROW) return sqlite_error("find conversation");
  ConversationRecord c;
  c.id = s.col_text(0);
  c.client_id = s.col_text(1);
  c.user_id = s.col_text(2);
  c.created_at_ms = s.col_int(3);
  c.last_seq = s.col_int(4);
  c.pruned_through = s.col_int(5);
  return std::optional<ConversationRecord>(std::move(c));
}

Result<bool> ServerStore::owns(std::string_view conversation_id, std::string_view client_id,
                               std::string_view user_id) {
  auto st = prepare("SELECT 1 FROM conversations WHERE id = ?1 AND client_id = ?2 AND user_id = ?3");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).text(2, client_id).text(3, user_id);
  const int rc = s.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_error("ownership check");
  return rc == SQLITE_ROW;
}

// ------------------------------------------------------------------ connections

Result<bool> ServerStore::connection_opened(std::string_view connection_id, std::string_view conversation_id,
                                            std::string_view client_id, std::string_view user_id,
                                            std::string_view peer_ip, int64_t now) {
  auto st = prepare(
      "INSERT INTO connections (id, conversation_id, client_id, user_id, peer_ip, opened_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, connection_id).text(2, conversation_id).text(3, client_id).text(4, user_id).text(5, peer_ip);
  s.integer(6, now);
  if (s.step() != SQLITE_DONE) return sqlite_error("record connection");
  return true;
}

Result<bool> ServerStore::connection_closed(std::string_view connection_id, int code, int64_t now) {
  auto st = prepare("UPDATE connections SET closed_at = ?2, close_code = ?3 WHERE id = ?1");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, connection_id).integer(2, now).integer(3, code);
  if (s.step() != SQLITE_DONE) return sqlite_error("record connection close");
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
    auto st = prepare("UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ?1");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id);
    if (s.step() != SQLITE_DONE) return sqlite_error("allocate seq");
    if (sqlite3_changes(db_) != 1) {
      return Error(ErrorCode::not_found, "store: unknown conversation '" + std::string(conversation_id) + "'");
    }
  }
  {
    auto st = prepare("SELECT last_seq FROM conversations WHERE id = ?1");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id);
    if (s.step() != SQLITE_ROW) return sqlite_error("read seq");
    e.seq = s.col_int(0);
  }
  e.kind = std::string(kind);
  e.ref_id = std::string(ref_id);
  e.reply_to = std::string(reply_to);
  e.created_at_ms = now;
  e.frame = frame_for_seq(e.seq);
  {
    auto st = prepare(
        "INSERT INTO events (conversation_id, seq, kind, ref_id, reply_to, created_at, frame) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, e.conversation_id).integer(2, e.seq).text(3, e.kind).text(4, e.ref_id).text(5, e.reply_to);
    s.integer(6, e.created_at_ms).text(7, e.frame);
    if (s.step() != SQLITE_DONE) return sqlite_error("store event");
  }
  CW_TRY(batch.commit());
  return e;
}

namespace {
EventRecord event_from(sqlite3_stmt* st) {
  auto text = [&](int c) {
    const unsigned char* p = sqlite3_column_text(st, c);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st, c)) : std::string();
  };
  EventRecord e;
  e.conversation_id = text(0);
  e.seq = sqlite3_column_int64(st, 1);
  e.kind = text(2);
  e.ref_id = text(3);
  e.reply_to = text(4);
  e.created_at_ms = sqlite3_column_int64(st, 5);
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
  auto st = prepare(CW_EVENT_SELECT "WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).integer(2, after_seq);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.events.push_back(event_from(*st));
  if (rc != SQLITE_DONE) return sqlite_error("read events");
  return out;
}

Result<std::vector<EventRecord>> ServerStore::events_for_message(std::string_view conversation_id,
                                                                 std::string_view message_id) {
  auto st = prepare(CW_EVENT_SELECT
                    "WHERE conversation_id = ?1 AND (ref_id = ?2 OR reply_to = ?2) ORDER BY seq");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).text(2, message_id);
  std::vector<EventRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(event_from(*st));
  if (rc != SQLITE_DONE) return sqlite_error("read message events");
  return out;
}

Result<std::optional<EventRecord>> ServerStore::find_event(std::string_view conversation_id,
                                                           std::string_view kind, std::string_view ref_id) {
  auto st = prepare(CW_EVENT_SELECT
                    "WHERE conversation_id = ?1 AND ref_id = ?2 AND kind = ?3 ORDER BY seq LIMIT 1");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).text(2, ref_id).text(3, kind);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<EventRecord>();
  if (rc != SQLITE_ROW) return sqlite_error("find event");
  return std::optional<EventRecord>(event_from(*st));
}

// Removes the prefix of a conversation's events up to `cut`, if that moves
// pruned_through forward. Returns the number of events deleted.
Result<int64_t> ServerStore::apply_cut(std::string_view conversation_id, int64_t cut) {
  {
    auto st = prepare("UPDATE conversations SET pruned_through = ?2 WHERE id = ?1 AND pruned_through < ?2");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id).integer(2, cut);
    if (s.step() != SQLITE_DONE) return sqlite_error("prune");
    if (sqlite3_changes(db_) == 0) return int64_t{0};
  }
  auto st = prepare("DELETE FROM events WHERE conversation_id = ?1 AND seq <= ?2");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).integer(2, cut);
  if (s.step() != SQLITE_DONE) return sqlite_error("prune");
  return int64_t{sqlite3_changes(db_)};
}

Result<int64_t> ServerStore::prune_one(std::string_view conversation_id, int64_t now,
                                       const RetentionPolicy& retention) {
  int64_t cut = 0;
  if (retention.max_age_ms > 0) {
    auto st = prepare("SELECT MAX(seq) FROM events WHERE conversation_id = ?1 AND created_at < ?2");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id).integer(2, now - retention.max_age_ms);
    if (s.step() != SQLITE_ROW) return sqlite_error("prune by age");
    if (!s.col_null(0)) cut = s.col_int(0);
  }
  if (retention.max_events > 0) {
    auto st = prepare("SELECT last_seq FROM conversations WHERE id = ?1");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id);
    const int rc = s.step();
    if (rc == SQLITE_ROW) cut = std::max(cut, s.col_int(0) - retention.max_events);
    else if (rc != SQLITE_DONE) return sqlite_error("prune by count");
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
    auto st = prepare("SELECT conversation_id, MAX(seq) FROM events WHERE created_at < ?1 GROUP BY conversation_id");
    if (!st) return st.error();
    Stmt s(*st);
    s.integer(1, now - retention.max_age_ms);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) cuts[s.col_text(0)] = s.col_int(1);
    if (rc != SQLITE_DONE) return sqlite_error("prune by age");
  }
  if (retention.max_events > 0) {
    auto st = prepare("SELECT id, last_seq - ?1 FROM conversations WHERE last_seq - ?1 > pruned_through");
    if (!st) return st.error();
    Stmt s(*st);
    s.integer(1, retention.max_events);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      int64_t& cut = cuts[s.col_text(0)];
      cut = std::max(cut, s.col_int(1));
    }
    if (rc != SQLITE_DONE) return sqlite_error("prune by count");
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
TurnRecord turn_from(sqlite3_stmt* st) {
  auto text = [&](int c) {
    const unsigned char* p = sqlite3_column_text(st, c);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(st, c)) : std::string();
  };
  TurnRecord t;
  t.conversation_id = text(0);
  t.message_id = text(1);
  t.turn_id = text(2);
  t.reply_id = text(3);
  t.status = status_from_name(text(4));
  t.confirm_seq = sqlite3_column_int64(st, 5);
  t.received_at_ms = sqlite3_column_int64(st, 6);
  t.finished_at_ms = sqlite3_column_int64(st, 7);
  return t;
}
}  // namespace

#define CW_TURN_SELECT                                                                                   \
  "SELECT conversation_id, message_id, turn_id, reply_id, status, confirm_seq, received_at, finished_at " \
  "FROM turns "

Result<std::optional<TurnRecord>> ServerStore::find_turn(std::string_view conversation_id,
                                                         std::string_view message_id) {
  auto st = prepare(CW_TURN_SELECT "WHERE conversation_id = ?1 AND message_id = ?2");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).text(2, message_id);
  const int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<TurnRecord>();
  if (rc != SQLITE_ROW) return sqlite_error("find turn");
  return std::optional<TurnRecord>(turn_from(*st));
}

Result<bool> ServerStore::put_turn(const TurnRecord& t) {
  auto st = prepare(
      "INSERT OR REPLACE INTO turns (conversation_id, message_id, turn_id, reply_id, status, confirm_seq, "
      "received_at, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, t.conversation_id).text(2, t.message_id).text(3, t.turn_id).text(4, t.reply_id);
  s.text(5, turn_status_name(t.status)).integer(6, t.confirm_seq).integer(7, t.received_at_ms);
  s.integer(8, t.finished_at_ms);
  if (s.step() != SQLITE_DONE) return sqlite_error("store turn");
  return true;
}

Result<bool> ServerStore::finish_turn(std::string_view conversation_id, std::string_view message_id,
                                      TurnStatus status, int64_t now) {
  auto st = prepare("UPDATE turns SET status = ?3, finished_at = ?4 WHERE conversation_id = ?1 AND message_id = ?2");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).text(2, message_id).text(3, turn_status_name(status)).integer(4, now);
  if (s.step() != SQLITE_DONE) return sqlite_error("finish turn");
  return sqlite3_changes(db_) == 1;
}

Result<std::vector<TurnRecord>> ServerStore::unfinished_turns() {
  auto st = prepare(CW_TURN_SELECT "WHERE status = 'received' ORDER BY received_at");
  if (!st) return st.error();
  Stmt s(*st);
  std::vector<TurnRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.push_back(turn_from(*st));
  if (rc != SQLITE_DONE) return sqlite_error("read unfinished turns");
  return out;
}

// ------------------------------------------------------------------ history

Result<bool> ServerStore::put_user_message(std::string_view conversation_id, int64_t seq,
                                           const UserMessageRecord& m) {
  BatchGuard batch(*this);
  CW_TRY(batch.begin());
  {
    auto st = prepare("DELETE FROM messages WHERE conversation_id = ?1 AND message_id = ?2 AND role = 'user'");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id).text(2, m.message_id);
    if (s.step() != SQLITE_DONE) return sqlite_error("replace message");
  }
  {
    auto st = prepare("DELETE FROM images WHERE conversation_id = ?1 AND message_id = ?2");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id).text(2, m.message_id);
    if (s.step() != SQLITE_DONE) return sqlite_error("replace images");
  }
  {
    auto st = prepare(
        "INSERT INTO messages (conversation_id, seq, role, message_id, reply_to, content, timestamp) "
        "VALUES (?1, ?2, 'user', ?3, NULL, ?4, ?5)");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id).integer(2, seq).text(3, m.message_id).text(4, m.content).text(5, m.timestamp);
    if (s.step() != SQLITE_DONE) return sqlite_error("store message");
  }
  for (size_t i = 0; i < m.images.size(); ++i) {
    const ImageRecord& img = m.images[i];
    auto st = prepare(
        "INSERT INTO images (conversation_id, message_id, position, image_id, mime_type, filename, width, "
        "height, size, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id).text(2, m.message_id).integer(3, static_cast<int64_t>(i)).text(4, img.id);
    s.text(5, img.mime_type).opt_text(6, img.filename).integer(7, img.width).integer(8, img.height);
    s.integer(9, static_cast<int64_t>(img.size));
    s.blob(10, options_.store_image_bytes ? std::string_view(img.bytes) : std::string_view());
    if (s.step() != SQLITE_DONE) return sqlite_error("store image");
  }
  return batch.commit();
}

Result<bool> ServerStore::put_assistant_message(std::string_view conversation_id,
                                                const protocol::Response& r) {
  auto st = prepare(
      "INSERT OR REPLACE INTO messages (conversation_id, seq, role, message_id, reply_to, content, timestamp, "
      "response_frame) VALUES (?1, ?2, 'assistant', ?3, ?4, ?5, ?6, ?7)");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).integer(2, r.seq).text(3, r.message_id).text(4, r.reply_to).text(5, r.content);
  s.text(6, r.timestamp).text(7, protocol::encode(protocol::ServerFrame{r}));
  if (s.step() != SQLITE_DONE) return sqlite_error("store response");
  return true;
}

Result<std::vector<ImageRecord>> ServerStore::message_images(std::string_view conversation_id,
                                                             std::string_view message_id) {
  auto st = prepare(
      "SELECT image_id, mime_type, filename, width, height, size, bytes FROM images "
      "WHERE conversation_id = ?1 AND message_id = ?2 ORDER BY position");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).text(2, message_id);
  std::vector<ImageRecord> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    ImageRecord img;
    img.id = s.col_text(0);
    img.mime_type = s.col_text(1);
    img.filename = s.col_opt_text(2);
    img.width = static_cast<uint32_t>(s.col_int(3));
    img.height = static_cast<uint32_t>(s.col_int(4));
    img.size = static_cast<uint64_t>(s.col_int(5));
    img.bytes = s.col_blob(6);
    out.push_back(std::move(img));
  }
  if (rc != SQLITE_DONE) return sqlite_error("read images");
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
    auto st = prepare(
        "SELECT seq, role, message_id, reply_to, content, timestamp, response_frame FROM messages "
        "WHERE conversation_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3");
    if (!st) return st.error();
    Stmt s(*st);
    s.text(1, conversation_id).integer(2, before_seq.value_or(INT64_MAX)).integer(3, limit + 1);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      if (static_cast<int>(page.messages.size()) == limit) {
        page.has_more = true;
        break;
      }
      protocol::HistoryEntry e;
      e.seq = s.col_int(0);
      e.role = s.col_text(1);
      e.message_id = s.col_text(2);
      e.reply_to = s.col_opt_text(3);
      e.content = s.col_text(4);
      e.timestamp = s.col_text(5);
      if (auto frame = s.col_opt_text(6)) {
        auto decoded = protocol::decode_server_frame(*frame, Limits{});
        if (decoded && std::holds_alternative<protocol::Response>(*decoded)) {
          auto& r = std::get<protocol::Response>(*decoded);
          e.image_analysis = std::move(r.image_analysis);
          e.citations = std::move(r.citations);
          e.cancelled = r.cancelled;
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
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sqlite_error("load messages");
  }
  std::reverse(page.messages.begin(), page.messages.end());
  return page;
}

// ------------------------------------------------------------------ components

Result<bool> ServerStore::put_component(std::string_view conversation_id, std::string_view component_id,
                                        std::string_view reply_to, std::string_view kind, int64_t now) {
  auto st = prepare(
      "INSERT OR IGNORE INTO components (conversation_id, component_id, reply_to, kind, created_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).text(2, component_id).text(3, reply_to).text(4, kind).integer(5, now);
  if (s.step() != SQLITE_DONE) return sqlite_error("store component");
  return true;
}

Result<bool> ServerStore::has_component(std::string_view conversation_id, std::string_view component_id) {
  auto st = prepare("SELECT 1 FROM components WHERE conversation_id = ?1 AND component_id = ?2");
  if (!st) return st.error();
  Stmt s(*st);
  s.text(1, conversation_id).text(2, component_id);
  const int rc = s.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_error("find component");
  return rc == SQLITE_ROW;
}

}  // namespace chatwire::store
