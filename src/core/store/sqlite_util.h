// Small RAII helpers over the SQLite C API, shared by the stores.
//
// Database owns one sqlite3 connection and a cache of prepared statements
// (keyed by their SQL text, prepared on first use and reused: statements are
// the only way the stores talk to SQLite). Statement wraps one sqlite3_stmt
// with typed binds and column reads. Transaction is a scope guard: BEGIN on
// construction, ROLLBACK on destruction unless commit() was called.
//
// Every failure is a chatwire::Error with code `internal` whose message names
// the operation and carries SQLite's own text. Nothing here throws. The same
// code runs against the system libsqlite3 and SQLite compiled to WASM.
#ifndef CHATWIRE_CORE_STORE_SQLITE_UTIL_H_
#define CHATWIRE_CORE_STORE_SQLITE_UTIL_H_

#include <cstdint>
#include <map>
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
  // Binds NULL when `text` is empty (nullopt), else the text.
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

// One SQLite connection with a statement cache.
class Database {
 public:
  // Opens (creating if needed) the database at `path`: a file path or ":memory:".
  static Result<std::unique_ptr<Database>> open(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more SQL statements that return no rows (DDL, PRAGMA, BEGIN...).
  Result<bool> exec(const std::string& sql);

  // The cached prepared statement for `sql`, reset and with no bindings.
  // The pointer stays valid for the Database's lifetime; do not keep it across
  // calls that might use the same SQL (the statement is shared).
  Result<Statement*> prepare(const std::string& sql);

  // PRAGMA user_version (the schema version) read and write.
  Result<int64_t> user_version();
  Result<bool> set_user_version(int64_t version);

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
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<Statement>> cache_;
};

// BEGIN on construction; ROLLBACK on destruction unless commit() succeeded.
// Not nestable: open one per batch of writes.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // The result of BEGIN (an Error means nothing was started).
  const Result<bool>& begun() const { return begun_; }
  // COMMIT. After a failure the destructor rolls back.
  Result<bool> commit();

 private:
  Database& db_;
  Result<bool> begun_;
  bool done_ = false;
};

}  // namespace chatwire::store

#endif  // CHATWIRE_CORE_STORE_SQLITE_UTIL_H_
