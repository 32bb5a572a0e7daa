// The GRPO training loop (`r1 rl`): sample G completions per prompt with the
// rollout worker, score them with the reward function, compute group
// advantages, and update the policy with learner_step — μ passes per
// generation, TRL's batching — while every rollout and step's metrics go to
// <output_dir>/rollouts.db. With async_generation, sampling runs ahead of
// the learner on a background thread, within max_staleness. Checkpoints are taken at generation boundaries
// and a resumed run repeats exactly what an uninterrupted run would do.
// docs/grpo.md describes the loop, its metrics and the files it writes.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "grpo/rl_config.h"
#include "rollout/rollout_worker.h"
#include "util/status.h"

namespace r1 {

struct RLRunResult {
  int64_t global_step = 0;
  std::string model_dir;     // <output_dir>/model, the final policy as an HF folder
  double last_reward = 0.0;  // mean total reward of the last generation
};

// Makes the in-process worker a run samples with, given the weights it
// samples with and the run's tokenizer. Synchronous runs make one over the
// policy they train (updated in place between requests; each request
// carries the policy version it must be sampled with); async_generation
// makes one per generation over that generation's weight snapshot, on the
// sampling thread.
using RolloutWorkerFactory =
    std::function<std::unique_ptr<RolloutWorker>(const Transformer& policy, const Tokenizer& tokenizer)>;

// A LocalRolloutWorker over the policy: sampling in this process.
std::unique_ptr<RolloutWorker> local_rollout_worker(const Transformer& policy, const Tokenizer& tokenizer);

// Runs the job; with `resume`, continues from the last complete checkpoint
// in output_dir (or starts fresh when there is none). Progress lines go to
// `log` (nullptr for none).
Result<RLRunResult> run_rl(const RLConfig& config, bool resume, std::FILE* log,
                           const RolloutWorkerFactory& make_worker = local_rollout_worker);

}  // namespace r1
