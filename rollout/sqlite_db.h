// Thin RAII wrappers over the SQLite C API that turn result codes into
// r1::Status messages naming the database file and what was being done.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "util/status.h"

namespace r1 {

class SqliteDb {
 public:
  // kImmutable reads a file nobody is writing without creating -shm/-wal
  // (for folders the reader cannot write).
  enum class Mode { kReadOnly, kImmutable, kReadWriteCreate };
  static Result<SqliteDb> open(const std::string& path, Mode mode);

  // Runs one or more statements without results.
  Status exec(const std::string& sql);
  // Error for the last failed call on this connection, e.g.
  // "runs/a/rollouts.db: inserting rollouts: database or disk is full".
  Status error(const std::string& what) const;

  sqlite3* handle() const { return db_.get(); }
  const std::string& path() const { return path_; }

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  SqliteDb(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  std::string path_;
  std::unique_ptr<sqlite3, Closer> db_;
};

// What a TEXT parameter stores for `value`: the same bytes when they are
// UTF-8, else the repaired text (U+FFFD for each bad sequence, as the JSON
// writer repairs), since the store's readers (Python's sqlite3 among them)
// refuse to decode anything else.
std::string sqlite_text(const std::string& value);

// A prepared statement. Binding indices are 1-based as in SQLite; bind errors
// are kept and reported by the next step(). Strings bind as sqlite_text.
class SqliteStmt {
 public:
  static Result<SqliteStmt> prepare(const SqliteDb& db, const std::string& sql);

  SqliteStmt& bind(int index, int64_t value);
  SqliteStmt& bind(int index, double value);
  SqliteStmt& bind(int index, const std::string& value);
  SqliteStmt& bind(int index, const std::optional<std::string>& value);

  Result<bool> step();  // true when a row is available
  Status run();         // steps to completion, then resets for reuse
  void reset();         // clears bindings and rewinds

  int64_t col_int(int i) const { return sqlite3_column_int64(stmt_.get(), i); }
  double col_double(int i) const { return sqlite3_column_double(stmt_.get(), i); }
  bool col_null(int i) const { return sqlite3_column_type(stmt_.get(), i) == SQLITE_NULL; }
  std::string col_text(int i) const;

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  SqliteStmt(const SqliteDb& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  void note(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  const SqliteDb* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  int bind_rc_ = SQLITE_OK;
};

}  // namespace r1
