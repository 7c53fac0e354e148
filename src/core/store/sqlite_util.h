// The one SQLite layer, shared by the client store and the server store.
//
// Database owns one sqlite3 connection and a cache of prepared statements
// (keyed by their SQL text, prepared on first use and reused: statements are
// the only way the stores talk to SQLite), runs schema migrations by
// PRAGMA user_version, and keeps the transactions:
//   batches  begin()..commit(), nestable: only the outermost pair touches
//            SQLite; rollback() undoes the whole outermost batch.
//   groups   begin_group()..commit_group() makes everything in between,
//            batches included, one SQLite transaction (group commit); inside a
//            group the outermost batch is a savepoint, so its rollback()
//            undoes that batch only. When SQLite ends the group's transaction
//            by itself (SQLITE_FULL, IOERR, NOMEM), later batches fail instead
//            of starting a transaction of their own outside it.
// Statement wraps one sqlite3_stmt with typed binds and column reads;
// ScopedStatement resets a cached one when its use ends, so a read that
// stopped early holds no snapshot open.
//
// Every failure is a chatwire::Error with code `internal` whose message names
// the operation and carries SQLite's own text. Nothing here throws. The same
// code runs against the system libsqlite3 and SQLite compiled to WASM.
#ifndef CHATWIRE_CORE_STORE_SQLITE_UTIL_H_
#define CHATWIRE_CORE_STORE_SQLITE_UTIL_H_

#include <cstdint>
#include <unordered_map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/protocol/errors.h"

struct sqlite3;
struct sqlite3_stmt;

namespace chatwire::store {

// One prepared statement. Move-only; finalizes on destruction.
class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement();
  Statement(Statement&& other) noexcept : stmt_(other.stmt_) { other.stmt_ = nullptr; }
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds parameter `index` (1-based, as in SQLite). Return *this to chain.
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  // Binds NULL for nullopt, else the text.
  Statement& bind(int index, const std::optional<std::string>& text);
  Statement& bind_blob(int index, std::string_view bytes);
  Statement& bind_null(int index);

  // Runs one step. Returns true when a row is ready to read, false when the
  // statement is done; an Error when SQLite fails (or a bind failed earlier).
  Result<bool> step();
  // Steps until done (for statements that return no rows), then resets.
  Result<bool> run();

  // Column reads of the current row (0-based, as in SQLite).
  int64_t int64(int column) const;
  double real(int column) const;
  std::string text(int column) const;   // "" for NULL
  std::string blob(int column) const;   // bytes; "" for NULL
  bool is_null(int column) const;
  std::optional<std::string> optional_text(int column) const;

  // Resets the statement and clears its bindings, ready for reuse.
  void reset();

  sqlite3_stmt* handle() const { return stmt_; }

 private:
  void note_bind(int rc, int index);
  sqlite3_stmt* stmt_ = nullptr;
  int bind_error_ = 0;  // first failing sqlite3_bind_* result code
};

// A cached statement for one use: reset (bindings cleared) when it goes out
// of scope.
class ScopedStatement {
 public:
  explicit ScopedStatement(Statement* statement) : s_(*statement) {}
  ~ScopedStatement() { s_.reset(); }
  ScopedStatement(const ScopedStatement&) = delete;
  ScopedStatement& operator=(const ScopedStatement&) = delete;
  Statement* operator->() const { return &s_; }
  Statement& operator*() const { return s_; }

 private:
  Statement& s_;
};

// One SQLite connection with a statement cache and the transactions above.
class Database {
 public:
  // Opens (creating if needed) the database at `path`: a file path or
  // ":memory:". `busy_timeout_ms`: how long a statement waits for another
  // connection's lock.
  static Result<std::unique_ptr<Database>> open(const std::string& path, int busy_timeout_ms = 2000);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more SQL statements that return no rows (DDL, PRAGMA, BEGIN...).
  Result<bool> exec(const std::string& sql);

  // The cached prepared statement for `sql`, reset and with no bindings.
  // The pointer stays valid for the Database's lifetime; do not keep it across
  // calls that might use the same SQL (the statement is shared).
  Result<Statement*> prepare(const std::string& sql);

  // The integer in the first column of the first row of `sql` with `args`
  // bound to ?1, ?2, ... (0 when there is no row).
  template <class... Args>
  Result<int64_t> scalar(const std::string& sql, const Args&... args);
  // Runs a statement without rows with `args` bound; returns the rows it changed.
  template <class... Args>
  Result<int64_t> write(const std::string& sql, const Args&... args);
  // `then(statement)` on the cached statement of `sql` with `args` bound to
  // ?1, ?2, ...; the statement is reset afterwards.
  template <class F, class... Args>
  Result<int64_t> with_bound(const std::string& sql, F then, const Args&... args);

  // PRAGMA user_version (the schema version) read and write.
  Result<int64_t> user_version();
  Result<bool> set_user_version(int64_t version);
  // Brings the schema from user_version to `count`: steps[v] (SQL) migrates
  // version v to v + 1, all in one batch. A file of a newer version is
  // refused, naming `what` ("client database", "store: database").
  Result<bool> migrate(const char* const* steps, int count, const std::string& what);

  // ---- batches and groups (see the top of this file)
  Result<bool> begin();
  Result<bool> commit();
  void rollback();
  Result<bool> begin_group();  // not nestable; fails inside a batch
  Result<bool> commit_group();
  bool in_group() const { return in_group_; }
  bool in_batch() const { return batch_depth_ > 0; }

  // Rows changed by INSERT/UPDATE/DELETE on this connection since it opened.
  int64_t total_changes() const;
  // Rows changed by the most recent INSERT/UPDATE/DELETE.
  int64_t changes() const;
  // The rowid of the last successful INSERT on this connection.
  int64_t last_insert_rowid() const;
  // True inside BEGIN ... COMMIT.
  bool in_transaction() const;

  // An `internal` Error naming `what` with SQLite's current error text.
  Error error(std::string_view what) const;

  sqlite3* handle() const { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  Result<bool> run(const char* sql);  // a cached statement without rows (BEGIN, SAVEPOINT...)
  bool group_lost();
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<Statement>> cache_;
  int batch_depth_ = 0;
  bool in_group_ = false;
  // Why SQLite ended the open group's transaction by itself ("" while it is
  // open); group_lost() notices it (autocommit back on inside a group).
  std::string group_lost_;
};

template <class F, class... Args>
Result<int64_t> Database::with_bound(const std::string& sql, F then, const Args&... args) {
  auto st = prepare(sql);
  if (!st) return st.error();
  ScopedStatement s(*st);
  int index = 0;
  (s->bind(++index, args), ...);
  return then(*s);
}

template <class... Args>
Result<int64_t> Database::scalar(const std::string& sql, const Args&... args) {
  return with_bound(sql, [](Statement& s) -> Result<int64_t> {
    auto row = s.step();
    if (!row) return row.error();
    return *row ? s.int64(0) : int64_t{0};
  }, args...);
}

template <class... Args>
Result<int64_t> Database::write(const std::string& sql, const Args&... args) {
  return with_bound(sql, [this](Statement& s) -> Result<int64_t> {
    auto r = s.run();
    if (!r) return r.error();
    return changes();
  }, args...);
}

}  // namespace chatwire::store

#endif  // CHATWIRE_CORE_STORE_SQLITE_UTIL_H_
