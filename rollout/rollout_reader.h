// Read-only queries over a rollout store for `r1 rollouts` and tools. Opens
// the file read-only, so it can be used while a run's writer appends (WAL).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rollout/rollout_record.h"
#include "rollout/sqlite_db.h"
#include "util/status.h"

namespace r1 {

using NamedValues = std::vector<std::pair<std::string, double>>;

// Aggregates of one step: over its rollouts (n may be 0 when only metrics
// were logged) and its logged metrics.
struct StepSummary {
  int64_t step = 0;
  int64_t n = 0;
  double reward_mean = 0.0;
  double reward_std = 0.0;  // sample std (n - 1) over all rollouts of the step
  double mean_completion_tokens = 0.0;
  double truncated_fraction = 0.0;  // finish_reason == "length"
  NamedValues component_means;      // by component name
  NamedValues metrics;              // NaN where a NaN was logged
};

// One prompt's rollouts within one step.
struct PromptStep {
  int64_t step = 0;
  int64_t n = 0;
  double reward_mean = 0.0;
  double reward_min = 0.0;
  double reward_max = 0.0;
  double mean_completion_tokens = 0.0;
  std::string best_completion;  // highest total reward, lowest sample index on ties
};

struct ResumeEvent {
  int64_t after_step = 0;
  int64_t discarded_rollouts = 0;
  int64_t discarded_metric_steps = 0;
  std::string at;
};

enum class RolloutOrder { kNatural, kBest, kWorst };  // natural: group, sample

// Every field has an initialiser, so callers may name only what they filter on.
struct RolloutFilter {
  std::optional<int64_t> step = std::nullopt;
  std::optional<int64_t> prompt_index = std::nullopt;
  bool discarded_only = false;                               // only rollouts with a discard_reason
  std::optional<std::string> discard_reason = std::nullopt;  // only this reason
  std::optional<std::string> text = std::nullopt;            // the completion contains it (case-sensitive)
};

class RolloutReader {
 public:
  static Result<RolloutReader> open(const std::string& path);

  Result<std::optional<RunInfo>> run_info();
  Result<std::vector<StepSummary>> steps();  // ascending step
  Result<std::vector<StoredRollout>> step_rollouts(int64_t step, RolloutOrder order, int64_t limit = -1);
  // Prompts whose text contains `text` (case-sensitive), by prompt_index.
  Result<std::vector<std::pair<int64_t, std::string>>> find_prompts(const std::string& text);
  Result<std::optional<std::string>> prompt_text(int64_t prompt_index);
  Result<std::vector<PromptStep>> follow_prompt(int64_t prompt_index);
  Result<std::vector<ResumeEvent>> resumes();
  // Calls `fn` for every matching rollout in (step, group, sample) order.
  Status for_each_rollout(const RolloutFilter& filter, const std::function<Status(const StoredRollout&)>& fn);
  // The first `limit` matching rollouts after skipping `offset`, in that order.
  Result<std::vector<StoredRollout>> rollouts(const RolloutFilter& filter, int64_t limit, int64_t offset = 0);
  // How many rollouts each discard reason has (reasons with none left out).
  Result<NamedValues> discard_counts();
  int64_t schema_version() const { return schema_version_; }

  const std::string& path() const { return db_.path(); }
  RolloutReader(RolloutReader&&) = default;

 private:
  RolloutReader(SqliteDb db, int64_t schema_version) : db_(std::move(db)), schema_version_(schema_version) {}
  Status scan(const RolloutFilter& filter, const std::string& order_limit,
              const std::function<Status(const StoredRollout&)>& fn);
  Status add_components(std::vector<StepSummary>& steps);
  Status add_metrics(std::vector<StepSummary>& steps);
  SqliteDb db_;
  int64_t schema_version_;
};

}  // namespace r1
