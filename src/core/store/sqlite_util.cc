#include "core/store/sqlite_util.h"

#include <sqlite3.h>

namespace chatwire::store {

// ------------------------------------------------------------------ Statement

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    stmt_ = other.stmt_;
    bind_error_ = other.bind_error_;
    other.stmt_ = nullptr;
  }
  return *this;
}

void Statement::note_bind(int rc, int index) {
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

Statement& Statement::bind(int index, int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  note_bind(sqlite3_bind_double(stmt_, index, value), index);
  return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies, so temporaries are safe to pass.
  // A null data pointer would bind SQL NULL; an empty view is the empty text.
  note_bind(sqlite3_bind_text64(stmt_, index, text.data() ? text.data() : "", text.size(), SQLITE_TRANSIENT,
                                SQLITE_UTF8),
            index);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::string>& text) {
  return text ? bind(index, std::string_view(*text)) : bind_null(index);
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
  // A zero-length blob must still be a blob, not NULL: pass a non-null pointer.
  static const char kEmpty = 0;
  note_bind(sqlite3_bind_blob64(stmt_, index, bytes.empty() ? &kEmpty : bytes.data(), bytes.size(),
                                SQLITE_TRANSIENT),
            index);
  return *this;
}

Statement& Statement::bind_null(int index) {
  note_bind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

Result<bool> Statement::step() {
  sqlite3* db = sqlite3_db_handle(stmt_);
  if (bind_error_ != 0) {
    const int rc = bind_error_;
    bind_error_ = 0;
    return Error(ErrorCode::internal, std::string("sqlite bind failed: ") + sqlite3_errstr(rc));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error e(ErrorCode::internal, std::string("sqlite step failed: ") + sqlite3_errmsg(db) + " (" +
                                   sqlite3_sql(stmt_) + ")");
  sqlite3_reset(stmt_);
  return e;
}

Result<bool> Statement::run() {
  for (;;) {
    auto r = step();
    if (!r) return r;
    if (!*r) break;
  }
  reset();
  return true;
}

int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::real(int column) const { return sqlite3_column_double(stmt_, column); }

std::string Statement::text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_, column);
  if (!p) return std::string();
  return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string Statement::blob(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  if (!p) return std::string();
  return std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::optional<std::string> Statement::optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return text(column);
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = 0;
}

// ------------------------------------------------------------------ Database

Result<std::unique_ptr<Database>> Database::open(const std::string& path, int busy_timeout_ms) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (db) sqlite3_close(db);
    return Error(ErrorCode::internal, "cannot open database '" + path + "': " + why);
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<Database>(new Database(db));
}

Database::~Database() {
  if (db_ && !sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  cache_.clear();  // finalize every statement before closing
  if (db_) sqlite3_close(db_);
}

Result<bool> Database::exec(const std::string& sql) {
  char* msg = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string why = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    return Error(ErrorCode::internal, "sqlite exec failed: " + why);
  }
  return true;
}

Result<Statement*> Database::prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second->reset();
    return it->second.get();
  }
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) {
    if (stmt) sqlite3_finalize(stmt);
    return error("prepare '" + sql + "'");
  }
  auto owned = std::make_unique<Statement>(stmt);
  Statement* raw = owned.get();
  cache_.emplace(sql, std::move(owned));
  return raw;
}

Result<int64_t> Database::user_version() { return scalar("PRAGMA user_version"); }

Result<bool> Database::set_user_version(int64_t version) {
  return exec("PRAGMA user_version = " + std::to_string(version));
}

int64_t Database::total_changes() const { return sqlite3_total_changes(db_); }

int64_t Database::changes() const { return sqlite3_changes(db_); }

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

Error Database::error(std::string_view what) const {
  return Error(ErrorCode::internal, "sqlite: " + std::string(what) + " failed: " + sqlite3_errmsg(db_));
}

Result<bool> Database::migrate(const char* const* steps, int count, const std::string& what) {
  auto version = user_version();
  if (!version) return version.error();
  if (*version > count) {
    return Error(ErrorCode::internal, what + " schema version " + std::to_string(*version) +
                                          " is newer than this build understands (" + std::to_string(count) + ")");
  }
  if (*version == count) return true;
  auto begun = begin();
  if (!begun) return begun;
  for (int64_t v = *version; v < count; ++v) {
    auto r = exec(steps[v]);
    if (!r) {
      rollback();
      return Error(ErrorCode::internal,
                   what + " migration to version " + std::to_string(v + 1) + " failed: " + r.error().message);
    }
  }
  auto r = set_user_version(count);
  if (!r) {
    rollback();
    return r;
  }
  return commit();
}

// ------------------------------------------------------------------ batches and groups

Result<bool> Database::run(const char* sql) {
  auto st = prepare(sql);
  if (!st) return st.error();
  return (*st)->run();
}

Result<bool> Database::begin() {
  // SQLite rolls the whole transaction back by itself on some errors
  // (SQLITE_FULL, IOERR, NOMEM): the group is then gone, and a SAVEPOINT
  // now would start a transaction of its own outside it.
  if (in_group_ && group_lost()) return Error(ErrorCode::internal, "sqlite: " + group_lost_);
  if (batch_depth_ == 0) {
    auto r = run(in_group_ ? "SAVEPOINT cw_batch" : "BEGIN IMMEDIATE");
    if (!r) return r;
  }
  ++batch_depth_;
  return true;
}

Result<bool> Database::commit() {
  if (batch_depth_ == 0) return Error(ErrorCode::internal, "sqlite: the batch was rolled back");
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

void Database::rollback() {
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

Result<bool> Database::begin_group() {
  if (in_group_ || batch_depth_ > 0) return Error(ErrorCode::internal, "sqlite: a group cannot start inside a batch");
  auto r = run("BEGIN IMMEDIATE");
  if (!r) return r;
  in_group_ = true;
  group_lost_.clear();
  return true;
}

bool Database::group_lost() {
  if (!group_lost_.empty()) return true;
  if (!sqlite3_get_autocommit(db_)) return false;
  group_lost_ = std::string("the transaction was rolled back by SQLite after: ") + sqlite3_errmsg(db_);
  return true;
}

Result<bool> Database::commit_group() {
  if (!in_group_) return Error(ErrorCode::internal, "sqlite: no group is open");
  rollback();  // a batch left open is a bug of the caller: it does not get committed half-done
  if (group_lost()) {
    in_group_ = false;
    return Error(ErrorCode::internal, "sqlite: " + group_lost_);
  }
  in_group_ = false;
  auto r = run("COMMIT");
  if (!r) {
    exec("ROLLBACK");
    return r;
  }
  return true;
}

}  // namespace chatwire::store
