#include "core/store/client_store.h"

#include <sqlite3.h>

#include <cctype>

#include "core/store/sqlite_util.h"

namespace chatwire::store {

namespace {

// ------------------------------------------------------------------ schema

// Migration steps: kMigrations[i] takes a database from version i to i + 1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE conversations (
  conversation_id TEXT PRIMARY KEY,
  last_seq        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE messages (
  row             INTEGER PRIMARY KEY,
  id              TEXT NOT NULL UNIQUE,
  ord             INTEGER NOT NULL,
  role            TEXT NOT NULL,
  conversation_id TEXT NOT NULL DEFAULT '',
  reply_to        TEXT NOT NULL DEFAULT '',
  status          TEXT NOT NULL,
  seq             INTEGER NOT NULL DEFAULT 0,
  created_at      TEXT NOT NULL,
  content         TEXT NOT NULL DEFAULT '',
  detail          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX messages_ord ON messages(ord);
CREATE INDEX messages_reply_to ON messages(reply_to);
CREATE INDEX messages_conversation_seq ON messages(conversation_id, seq);
CREATE TABLE image_bytes (
  message_id  TEXT NOT NULL,
  image_index INTEGER NOT NULL,
  bytes       BLOB NOT NULL,
  PRIMARY KEY (message_id, image_index)
);
CREATE TABLE outbox (
  position   INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE,
  not_before INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE tool_results (
  tool_call_id TEXT PRIMARY KEY,
  result       TEXT,
  error        TEXT
);
)sql",
};
constexpr int64_t kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == ClientStore::kSchemaVersion, "one migration per schema version");

constexpr const char* kMessageColumns =
    "row, ord, id, role, conversation_id, reply_to, status, seq, created_at, content, detail";

StoredMessage read_row(const Statement& st) {
  StoredMessage m;
  m.row = st.int64(0);
  m.ord = st.int64(1);
  m.id = st.text(2);
  m.role = st.text(3);
  m.conversation_id = st.text(4);
  m.reply_to = st.text(5);
  m.status = st.text(6);
  m.seq = st.int64(7);
  m.created_at = st.text(8);
  m.content = st.text(9);
  protocol::read_message_detail(st.text(10), m);
  return m;
}

// The first message `where` (a condition on ?1 = `key`, and an order) selects.
Result<std::optional<StoredMessage>> find_one(Database& db, const char* where, std::string_view key) {
  auto st = db.prepare(std::string("SELECT ") + kMessageColumns + " FROM messages WHERE " + where + " LIMIT 1");
  if (!st) return st.error();
  (*st)->bind(1, key);
  auto row = (*st)->step();
  if (!row) return row.error();
  std::optional<StoredMessage> out;
  if (*row) out = read_row(**st);
  (*st)->reset();
  return out;
}

}  // namespace

// ------------------------------------------------------------------ ClientStore

ClientStore::ClientStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}
ClientStore::~ClientStore() = default;  // Database rolls back an open batch

Result<std::unique_ptr<ClientStore>> ClientStore::open(const std::string& path,
                                                       const ClientStoreOptions& options) {
  auto db = Database::open(path);
  if (!db) return db.error();
  std::unique_ptr<ClientStore> store(new ClientStore(std::move(*db)));
  if (path != ":memory:" && !path.empty()) {
    // One ChatClient per file. The engine keeps its messages, outbox and seq
    // in memory and writes without re-reading, so a second client on the same
    // file (in this process or another) would overwrite the first one's rows.
    // The first client takes SQLite's exclusive lock and keeps it until it
    // closes; a second one is refused at once instead of waiting.
    sqlite3* h = store->db_->handle();
    sqlite3_busy_timeout(h, 0);
    auto locked = store->db_->exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT");
    if (!locked) {
      const int code = sqlite3_errcode(h) & 0xff;
      if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
        return Error(ErrorCode::invalid_field,
                     "options.storage '" + path +
                         "' is in use by another ChatClient (in this process or another); close that client "
                         "first, or give each client its own file");
      }
      return locked.error();
    }
    sqlite3_busy_timeout(h, 2000);
  }
  if (!options.journal_mode.empty()) {
    for (char c : options.journal_mode) {
      if (!std::isalpha(static_cast<unsigned char>(c))) {
        return Error(ErrorCode::invalid_field, "journal_mode '" + options.journal_mode + "' is not a mode name");
      }
    }
    auto r = store->db_->exec("PRAGMA journal_mode = " + options.journal_mode);
    if (!r) return r.error();
  }
  auto r = store->db_->exec("PRAGMA foreign_keys = ON");
  if (!r) return r.error();
  auto m = store->migrate();
  if (!m) return m.error();
  store->changes_ = 0;
  return store;
}

Result<bool> ClientStore::migrate() {
  return db_->migrate(kMigrations, static_cast<int>(kSchemaVersion), "client database");
}

Result<int64_t> ClientStore::schema_version() { return db_->user_version(); }

// ---- batches

Result<bool> ClientStore::begin() {
  if (db_->in_transaction()) return Error(ErrorCode::internal, "a store batch is already open");
  batch_wrote_ = false;
  return db_->begin();
}

Result<bool> ClientStore::commit() {
  auto r = db_->commit();
  if (r && batch_wrote_) ++changes_;
  batch_wrote_ = false;
  return r;
}

void ClientStore::rollback() {
  db_->rollback();
  batch_wrote_ = false;
}

bool ClientStore::in_transaction() const { return db_->in_transaction(); }

Result<bool> ClientStore::counted(const Result<int64_t>& changed) {
  if (!changed) return changed.error();
  if (changed.value() > 0) wrote();
  return true;
}

void ClientStore::wrote() {
  if (db_->in_transaction()) {
    batch_wrote_ = true;
  } else {
    ++changes_;
  }
}

// ---- meta

Result<std::optional<std::string>> ClientStore::meta(std::string_view key) {
  auto st = db_->prepare("SELECT value FROM meta WHERE key = ?1");
  if (!st) return st.error();
  (*st)->bind(1, key);
  auto row = (*st)->step();
  if (!row) return row.error();
  std::optional<std::string> out;
  if (*row) out = (*st)->text(0);
  (*st)->reset();
  return out;
}

Result<bool> ClientStore::set_meta(std::string_view key, std::string_view value) {
  auto st = db_->prepare(
      "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!st) return st.error();
  auto r = (*st)->bind(1, key).bind(2, value).run();
  if (r) wrote();
  return r;
}

Result<int64_t> ClientStore::last_seq(std::string_view conversation_id) {
  return db_->scalar("SELECT last_seq FROM conversations WHERE conversation_id = ?1", conversation_id);
}

Result<bool> ClientStore::set_last_seq(std::string_view conversation_id, int64_t seq) {
  auto st = db_->prepare(
      "INSERT INTO conversations(conversation_id, last_seq) VALUES(?1, ?2) "
      "ON CONFLICT(conversation_id) DO UPDATE SET last_seq = excluded.last_seq");
  if (!st) return st.error();
  auto r = (*st)->bind(1, conversation_id).bind(2, seq).run();
  if (r) wrote();
  return r;
}

// ---- messages

Result<bool> ClientStore::put_message(StoredMessage& m) {
  const std::string detail = protocol::message_detail_json(m);
  Result<Statement*> st = m.row == 0
      ? db_->prepare("INSERT INTO messages(ord, id, role, conversation_id, reply_to, status, seq, created_at, "
                     "content, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
      : db_->prepare("UPDATE messages SET ord = ?1, id = ?2, role = ?3, conversation_id = ?4, reply_to = ?5, "
                     "status = ?6, seq = ?7, created_at = ?8, content = ?9, detail = ?10 WHERE row = ?11");
  if (!st) return st.error();
  Statement& s = **st;
  s.bind(1, m.ord).bind(2, m.id).bind(3, m.role).bind(4, m.conversation_id).bind(5, m.reply_to);
  s.bind(6, m.status).bind(7, m.seq).bind(8, m.created_at).bind(9, m.content).bind(10, detail);
  if (m.row != 0) s.bind(11, m.row);
  auto r = s.run();
  if (!r) return r;
  if (m.row == 0) m.row = db_->last_insert_rowid();
  wrote();
  return true;
}

Result<std::vector<StoredMessage>> ClientStore::read_messages(const std::string& sql, int64_t a, int64_t b,
                                                              int nparams) {
  auto st = db_->prepare(sql);
  if (!st) return st.error();
  Statement& s = **st;
  if (nparams >= 1) s.bind(1, a);
  if (nparams >= 2) s.bind(2, b);
  std::vector<StoredMessage> out;
  for (;;) {
    auto row = s.step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(read_row(s));
  }
  s.reset();
  return out;
}

Result<std::optional<StoredMessage>> ClientStore::find_message(std::string_view id) {
  return find_one(*db_, "id = ?1", id);
}

Result<std::optional<StoredMessage>> ClientStore::find_reply(std::string_view reply_to) {
  return find_one(*db_, "reply_to = ?1 AND role = 'assistant' ORDER BY ord", reply_to);
}

Result<std::vector<StoredMessage>> ClientStore::newest_messages(int limit) {
  return read_messages(std::string("SELECT * FROM (SELECT ") + kMessageColumns +
                           " FROM messages ORDER BY ord DESC, row DESC LIMIT ?1) ORDER BY ord, row",
                       limit, 0, 1);
}

Result<std::vector<StoredMessage>> ClientStore::messages_before(int64_t ord, int limit) {
  return read_messages(std::string("SELECT * FROM (SELECT ") + kMessageColumns +
                           " FROM messages WHERE ord < ?1 ORDER BY ord DESC, row DESC LIMIT ?2) ORDER BY ord, row",
                       ord, limit, 2);
}

Result<std::vector<StoredMessage>> ClientStore::messages_from(int64_t ord) {
  return read_messages(std::string("SELECT ") + kMessageColumns + " FROM messages WHERE ord >= ?1 ORDER BY ord, row",
                       ord, 0, 1);
}

Result<bool> ClientStore::has_messages_before(int64_t ord) {
  auto n = db_->scalar("SELECT EXISTS(SELECT 1 FROM messages WHERE ord < ?1)", ord);
  if (!n) return n.error();
  return *n != 0;
}

Result<int64_t> ClientStore::message_count() {
  return db_->scalar("SELECT COUNT(*) FROM messages");
}

Result<int64_t> ClientStore::next_order() {
  return db_->scalar("SELECT COALESCE(MAX(ord) + 1, 0) FROM messages");
}

Result<int64_t> ClientStore::make_room_for_seq(std::string_view conversation_id, int64_t seq) {
  // One query picks the slot: before the first later message of the
  // conversation, else after the last message with a seq, else first.
  auto st = db_->prepare(
      "SELECT COALESCE("
      " (SELECT MIN(ord) FROM messages WHERE conversation_id = ?1 AND seq > ?2),"
      " (SELECT MAX(ord) + 1 FROM messages WHERE seq > 0),"
      " (SELECT MIN(ord) FROM messages),"
      " 0)");
  if (!st) return st.error();
  (*st)->bind(1, conversation_id).bind(2, seq);
  auto row = (*st)->step();
  if (!row) return row.error();
  const int64_t at = (*st)->int64(0);
  (*st)->reset();
  auto shift = db_->prepare("UPDATE messages SET ord = ord + 1 WHERE ord >= ?1");
  if (!shift) return shift.error();
  auto r = (*shift)->bind(1, at).run();
  if (!r) return r.error();
  wrote();
  return at;
}

// ---- image bytes

Result<bool> ClientStore::put_image_bytes(std::string_view message_id, const std::vector<std::string>& bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto st = db_->prepare(
        "INSERT OR REPLACE INTO image_bytes(message_id, image_index, bytes) VALUES(?1, ?2, ?3)");
    if (!st) return st.error();
    auto r = (*st)->bind(1, message_id).bind(2, static_cast<int64_t>(i)).bind_blob(3, bytes[i]).run();
    if (!r) return r;
  }
  if (!bytes.empty()) wrote();
  return true;
}

Result<std::vector<std::string>> ClientStore::image_bytes(std::string_view message_id) {
  auto st = db_->prepare("SELECT bytes FROM image_bytes WHERE message_id = ?1 ORDER BY image_index");
  if (!st) return st.error();
  (*st)->bind(1, message_id);
  std::vector<std::string> out;
  for (;;) {
    auto row = (*st)->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back((*st)->blob(0));
  }
  (*st)->reset();
  return out;
}

Result<bool> ClientStore::drop_image_bytes(std::string_view message_id) {
  return counted(db_->write("DELETE FROM image_bytes WHERE message_id = ?1", message_id));
}

// ---- outbox

Result<bool> ClientStore::outbox_push(std::string_view message_id, int64_t not_before) {
  return counted(
      db_->write("INSERT OR IGNORE INTO outbox(message_id, not_before) VALUES(?1, ?2)", message_id, not_before));
}

Result<bool> ClientStore::outbox_remove(std::string_view message_id) {
  return counted(db_->write("DELETE FROM outbox WHERE message_id = ?1", message_id));
}

Result<bool> ClientStore::outbox_hold(std::string_view message_id, int64_t not_before) {
  return counted(db_->write("UPDATE outbox SET not_before = ?2 WHERE message_id = ?1", message_id, not_before));
}

Result<std::vector<OutboxEntry>> ClientStore::outbox() {
  auto st = db_->prepare("SELECT message_id, not_before FROM outbox ORDER BY position");
  if (!st) return st.error();
  std::vector<OutboxEntry> out;
  for (;;) {
    auto row = (*st)->step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(OutboxEntry{(*st)->text(0), (*st)->int64(1)});
  }
  (*st)->reset();
  return out;
}

// ---- tool results

Result<bool> ClientStore::put_tool_result(const ToolResultRecord& rec) {
  return counted(db_->write("INSERT OR IGNORE INTO tool_results(tool_call_id, result, error) VALUES(?1, ?2, ?3)",
                            rec.tool_call_id, rec.result_json, rec.error));
}

Result<std::optional<ToolResultRecord>> ClientStore::find_tool_result(std::string_view tool_call_id) {
  auto st = db_->prepare("SELECT result, error FROM tool_results WHERE tool_call_id = ?1");
  if (!st) return st.error();
  (*st)->bind(1, tool_call_id);
  auto row = (*st)->step();
  if (!row) return row.error();
  std::optional<ToolResultRecord> out;
  if (*row) {
    ToolResultRecord rec;
    rec.tool_call_id = std::string(tool_call_id);
    rec.result_json = (*st)->optional_text(0);
    rec.error = (*st)->optional_text(1);
    out = std::move(rec);
  }
  (*st)->reset();
  return out;
}

}  // namespace chatwire::store
