// Plain data written to and read back from the rollout store: a sample as
// the store keeps it (StoredRollout: counts and a log-prob summary instead of
// the token lists), one step's logged metrics (StepMetrics) and the run's
// identity (RunInfo). No SQLite types here, so the rollout engine, the
// trainer and a future network transport can pass them around freely.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rollout/sample.h"

namespace r1 {

// Why a sampled completion is not in the learner's loss (StoredRollout and
// Sample discard_reason; "" = trained on). The store accepts only these.
inline constexpr const char* kDiscardZeroStd = "zero_std";     // its group's rewards were all equal (dynamic sampling)
inline constexpr const char* kDiscardSurplus = "surplus";      // dynamic sampling already had the batch's groups
inline constexpr const char* kDiscardTruncated = "truncated";  // finish "length" under mask_truncated_completions
inline constexpr const char* kDiscardIsMasked = "is_masked";   // masked by importance-sampling correction
// No "stale": async GRPO bounds staleness when it launches a generation, so
// nothing sampled is ever thrown away for its age (docs/grpo.md).
inline constexpr const char* kDiscardReasons[] = {kDiscardZeroStd, kDiscardSurplus, kDiscardTruncated,
                                                  kDiscardIsMasked};

// One row of the rollouts table; stored_rollout() is the one way a Sample
// becomes one.
struct StoredRollout {
  int64_t step = 0;            // training step whose update consumes this sample
  int64_t policy_version = 0;  // weights version that sampled it
  int64_t prompt_index = 0;    // index of the prompt in the dataset
  int64_t group_index = 0;     // index of the prompt's group within the step
  int64_t sample_index = 0;    // index within the group, 0..G-1
  std::string prompt;
  std::string completion;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string finish_reason = "stop";  // "stop" | "length"
  std::vector<std::pair<std::string, double>> reward_components;  // e.g. {"accuracy", 1.0}
  double total_reward = 0.0;
  double advantage = 0.0;
  LogProbSummary old_logprob;
  double generation_ms = 0.0;
  std::optional<std::string> reference_answer;
  std::string discard_reason;  // "" = in the loss; else one of kDiscardReasons
};

StoredRollout stored_rollout(const Sample& sample);

struct StepMetrics {
  int64_t step = 0;
  std::vector<std::pair<std::string, double>> metrics;  // TRL names: reward, reward_std, kl, ...
  double wall_time = 0.0;  // Unix time in seconds when logged, as TensorBoard's wall_time
};

struct RunInfo {
  std::string run_id;
  std::string name;
  std::string config_json;  // the full run config, as text
  std::string created_at;   // ISO 8601, UTC
  std::string model_path;
  std::string dataset;
};

}  // namespace r1
