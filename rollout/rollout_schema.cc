#include "rollout/rollout_schema.h"

#include <string>
#include <vector>

namespace r1 {

namespace {

// kMigrations[v] moves a database from user_version v to v + 1. Never edit a
// released entry; append a new one and bump kRolloutSchemaVersion.
const std::vector<const char*> kMigrations = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE run_info (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  run_id TEXT NOT NULL,
  name TEXT NOT NULL,
  config_json TEXT NOT NULL,
  created_at TEXT NOT NULL,
  model_path TEXT NOT NULL,
  dataset TEXT NOT NULL);
CREATE TABLE prompts (
  prompt_index INTEGER PRIMARY KEY,
  prompt TEXT NOT NULL,
  reference_answer TEXT);
CREATE TABLE rollouts (
  id INTEGER PRIMARY KEY,
  step INTEGER NOT NULL,
  policy_version INTEGER NOT NULL,
  prompt_index INTEGER NOT NULL REFERENCES prompts(prompt_index),
  group_index INTEGER NOT NULL,
  sample_index INTEGER NOT NULL,
  completion TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  finish_reason TEXT NOT NULL CHECK (finish_reason IN ('stop', 'length')),
  total_reward REAL NOT NULL,
  advantage REAL NOT NULL,
  logprob_sum REAL NOT NULL,
  logprob_mean REAL NOT NULL,
  logprob_min REAL NOT NULL,
  generation_ms REAL NOT NULL,
  UNIQUE (step, group_index, sample_index));
-- Also covers the per-step aggregates (mean length, truncation) without reading the wide rows.
CREATE INDEX rollouts_by_step_reward ON rollouts(step, total_reward, completion_tokens, finish_reason);
CREATE INDEX rollouts_by_prompt ON rollouts(prompt_index, step);
CREATE TABLE reward_components (
  rollout_id INTEGER NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (rollout_id, name)) WITHOUT ROWID;
CREATE TABLE steps (
  step INTEGER PRIMARY KEY,
  wall_time REAL NOT NULL);
CREATE TABLE step_metrics (
  step INTEGER NOT NULL REFERENCES steps(step) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (step, name)) WITHOUT ROWID;
CREATE TABLE resumes (
  id INTEGER PRIMARY KEY,
  after_step INTEGER NOT NULL,
  discarded_rollouts INTEGER NOT NULL,
  discarded_metric_steps INTEGER NOT NULL,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE VIEW rollouts_with_prompt AS
  SELECT r.*, p.prompt, p.reference_answer FROM rollouts r JOIN prompts p USING (prompt_index);
)sql",
    // 1 -> 2: why a sample is not in the loss (NULL = it is); the partial
    // index keeps the discarded view fast on stores where few are. Per-step
    // sums the writer keeps with every append, so step summaries read one
    // row per step instead of every rollout (a million-rollout store's
    // summary took seconds); filled here from the rows already stored.
    R"sql(
ALTER TABLE rollouts ADD COLUMN discard_reason TEXT;
CREATE INDEX rollouts_discarded ON rollouts(discard_reason, step) WHERE discard_reason IS NOT NULL;
CREATE TABLE step_rollout_stats (
  step INTEGER PRIMARY KEY,
  n INTEGER NOT NULL,
  reward_sum REAL NOT NULL,
  reward_m2 REAL NOT NULL,
  completion_tokens_sum INTEGER NOT NULL,
  truncated INTEGER NOT NULL);
CREATE TABLE step_component_stats (
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  n INTEGER NOT NULL,
  value_sum REAL NOT NULL,
  PRIMARY KEY (step, name)) WITHOUT ROWID;
INSERT INTO step_rollout_stats
  WITH m AS (SELECT step, avg(total_reward) AS mean FROM rollouts GROUP BY step)
  SELECT r.step, count(*), sum(r.total_reward), sum((r.total_reward - m.mean) * (r.total_reward - m.mean)),
         sum(r.completion_tokens), sum(r.finish_reason = 'length')
  FROM rollouts r JOIN m USING (step) GROUP BY r.step;
INSERT INTO step_component_stats
  SELECT r.step, c.name, count(*), sum(c.value) FROM reward_components c JOIN rollouts r ON r.id = c.rollout_id
  GROUP BY r.step, c.name;
)sql",
};

Result<int64_t> pragma_int(SqliteDb& db, const char* name) {
  R1_ASSIGN_OR_RETURN(SqliteStmt stmt, SqliteStmt::prepare(db, std::string("PRAGMA ") + name));
  R1_ASSIGN_OR_RETURN(bool row, stmt.step());
  return row ? stmt.col_int(0) : 0;
}

Result<int64_t> table_count(SqliteDb& db) {
  R1_ASSIGN_OR_RETURN(SqliteStmt stmt, SqliteStmt::prepare(db, "SELECT count(*) FROM sqlite_master"));
  R1_ASSIGN_OR_RETURN(bool row, stmt.step());
  return row ? stmt.col_int(0) : 0;
}

// Checks version and owner; `version` is set to the stored user_version.
Status check_identity(SqliteDb& db, int64_t& version) {
  R1_ASSIGN_OR_RETURN(version, pragma_int(db, "user_version"));
  R1_ASSIGN_OR_RETURN(int64_t app_id, pragma_int(db, "application_id"));
  if (app_id != kRolloutApplicationId && (app_id != 0 || version != 0))
    return Status::error(db.path() + ": not an r1 rollout store (application_id " + std::to_string(app_id) + ")");
  if (version > kRolloutSchemaVersion)
    return Status::error(db.path() + ": schema version " + std::to_string(version) +
                         " was written by a newer r1; this build reads up to version " +
                         std::to_string(kRolloutSchemaVersion));
  return Status();
}

Status migrate_in_transaction(SqliteDb& db) {
  int64_t version = 0;
  R1_RETURN_IF_ERROR(check_identity(db, version));
  if (version == 0) {
    R1_ASSIGN_OR_RETURN(int64_t tables, table_count(db));
    if (tables > 0) return Status::error(db.path() + ": not an r1 rollout store (has tables but no schema version)");
  }
  for (int64_t v = version; v < kRolloutSchemaVersion; ++v)
    R1_RETURN_IF_ERROR(db.exec(kMigrations[static_cast<size_t>(v)]));
  if (version == kRolloutSchemaVersion) return Status();
  R1_RETURN_IF_ERROR(db.exec("PRAGMA application_id = " + std::to_string(kRolloutApplicationId)));
  return db.exec("PRAGMA user_version = " + std::to_string(kRolloutSchemaVersion));
}

Status enable_wal(SqliteDb& db) {
  R1_ASSIGN_OR_RETURN(SqliteStmt stmt, SqliteStmt::prepare(db, "PRAGMA journal_mode = WAL"));
  R1_ASSIGN_OR_RETURN(bool row, stmt.step());
  std::string mode = row ? stmt.col_text(0) : "";
  if (mode != "wal") return Status::error(db.path() + ": cannot switch to WAL mode (journal_mode is '" + mode + "')");
  return Status();
}

}  // namespace

Status prepare_rollout_db_for_writing(SqliteDb& db) {
  sqlite3_busy_timeout(db.handle(), 10000);
  R1_RETURN_IF_ERROR(enable_wal(db));
  // NORMAL in WAL mode: a commit survives a process crash (SIGKILL, OOM) but
  // the last commits may be lost on power failure; no fsync per commit.
  R1_RETURN_IF_ERROR(db.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON"));
  // IMMEDIATE takes the write lock first, so two processes creating the same
  // file cannot both run the migrations.
  R1_RETURN_IF_ERROR(db.exec("BEGIN IMMEDIATE"));
  Status status = migrate_in_transaction(db);
  if (!status.ok()) {
    db.exec("ROLLBACK");
    return status;
  }
  return db.exec("COMMIT");
}

Result<int64_t> check_rollout_db_for_reading(SqliteDb& db) {
  // Readers wait briefly for a writer's WAL recovery or checkpoint.
  sqlite3_busy_timeout(db.handle(), 5000);
  int64_t version = 0;
  R1_RETURN_IF_ERROR(check_identity(db, version));
  if (version == 0) return Status::error(db.path() + ": not an r1 rollout store (no schema; empty or foreign file)");
  if (version < kRolloutOldestReadableVersion)
    return Status::error(db.path() + ": schema version " + std::to_string(version) +
                         " is older than this build reads (" + std::to_string(kRolloutOldestReadableVersion) +
                         "); open it once for writing to migrate");
  return version;
}

}  // namespace r1
