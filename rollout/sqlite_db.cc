#include "rollout/sqlite_db.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "util/utf8.h"

namespace r1 {

namespace {

// SQLite's "unable to open database file" does not say why; the parent folder
// and errno usually do.
Status open_error(const std::string& path, sqlite3* db, SqliteDb::Mode mode) {
  std::string why = db ? sqlite3_errmsg(db) : "out of memory";
  int err = db ? sqlite3_system_errno(db) : 0;
  if (err != 0) why += std::string(" (") + std::strerror(err) + ")";
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(parent, ec)) why += "; folder '" + parent.string() + "' does not exist";
  const char* verb = mode == SqliteDb::Mode::kReadWriteCreate ? "cannot open or create" : "cannot open for reading";
  return Status::error(path + ": " + verb + ": " + why);
}

std::string immutable_uri(const std::string& path) {
  std::string uri = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
      uri += buf;
    } else {
      uri += c;
    }
  }
  return uri + "?immutable=1";
}

}  // namespace

Result<SqliteDb> SqliteDb::open(const std::string& path, Mode mode) {
  int flags = mode == Mode::kReadWriteCreate ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : SQLITE_OPEN_READONLY;
  // Each connection is used by one thread at a time; NOMUTEX skips SQLite's locking.
  flags |= SQLITE_OPEN_NOMUTEX;
  if (mode == Mode::kImmutable) flags |= SQLITE_OPEN_URI;
  std::string name = mode == Mode::kImmutable ? immutable_uri(path) : path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  SqliteDb db(path, raw);
  if (rc != SQLITE_OK) return open_error(path, raw, mode);
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Status SqliteDb::exec(const std::string& sql) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return Status();
  std::string text = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  std::string first_line = sql.substr(0, sql.find('\n'));
  return Status::error(path_ + ": " + text + " (running: " + first_line + ")");
}

Status SqliteDb::error(const std::string& what) const {
  return Status::error(path_ + ": " + what + ": " + sqlite3_errmsg(db_.get()));
}

Result<SqliteStmt> SqliteStmt::prepare(const SqliteDb& db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
    return db.error("preparing '" + sql.substr(0, 60) + "'");
  return SqliteStmt(db, raw);
}

SqliteStmt& SqliteStmt::bind(int index, int64_t value) {
  note(sqlite3_bind_int64(stmt_.get(), index, value));
  return *this;
}

SqliteStmt& SqliteStmt::bind(int index, double value) {
  note(sqlite3_bind_double(stmt_.get(), index, value));
  return *this;
}

std::string sqlite_text(const std::string& value) { return utf8_lossy(value); }  // the same bytes when valid

SqliteStmt& SqliteStmt::bind(int index, const std::string& value) {
  if (!utf8_valid(value)) return bind(index, sqlite_text(value));
  note(sqlite3_bind_text(stmt_.get(), index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT));
  return *this;
}

SqliteStmt& SqliteStmt::bind(int index, const std::optional<std::string>& value) {
  if (value) return bind(index, *value);
  note(sqlite3_bind_null(stmt_.get(), index));
  return *this;
}

Result<bool> SqliteStmt::step() {
  if (bind_rc_ != SQLITE_OK)
    return Status::error(db_->path() + ": binding a parameter: " + sqlite3_errstr(bind_rc_));
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string sql = sqlite3_sql(stmt_.get());
  return db_->error("running '" + sql.substr(0, 60) + "'");
}

Status SqliteStmt::run() {
  Result<bool> more = step();
  while (more.ok() && *more) more = step();
  reset();
  return more.status();
}

void SqliteStmt::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_rc_ = SQLITE_OK;
}

std::string SqliteStmt::col_text(int i) const {
  const unsigned char* text = sqlite3_column_text(stmt_.get(), i);
  int n = sqlite3_column_bytes(stmt_.get(), i);
  return text ? std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(n)) : std::string();
}

}  // namespace r1
