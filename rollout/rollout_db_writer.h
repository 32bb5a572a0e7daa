// Synchronous writes to an open rollout store connection, one transaction
// per call. Used only by RolloutStore's writer thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rollout/rollout_record.h"
#include "rollout/sqlite_db.h"
#include "util/status.h"

namespace r1 {

class RolloutDbWriter {
 public:
  // Opens or creates `path` and brings its schema up to date.
  static Result<std::unique_ptr<RolloutDbWriter>> open(const std::string& path);

  Status write_rollouts(const std::vector<StoredRollout>& records);
  Status write_metrics(const StepMetrics& metrics);
  Status write_run_info(const RunInfo& info);
  Result<int64_t> discard_after_step(int64_t step);

 private:
  explicit RolloutDbWriter(SqliteDb db) : db_(std::move(db)) {}
  Status prepare_statements();
  Status insert_prompt(const StoredRollout& r);
  Status insert_rollout(const StoredRollout& r);
  Status add_step_stats(const std::vector<StoredRollout>& records);
  Status in_transaction(const std::function<Status()>& body);

  SqliteDb db_;
  std::unique_ptr<SqliteStmt> insert_prompt_, prompt_text_, insert_rollout_, insert_component_;
};

// Checks a record before it is queued, so the error names it, e.g.
// "step 5, group 1, sample 2: finish_reason must be \"stop\" or \"length\"".
Status validate_rollout(const StoredRollout& r);
Status validate_metrics(const StepMetrics& m);

}  // namespace r1
