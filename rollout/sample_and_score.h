// The one sample-and-score path of every job: build a request for some
// prompts of a PromptSet, sample it with a RolloutWorker, attach each
// sample's prompt, and score it with the reward function.
#pragma once

#include <vector>

#include "data/prompt_set.h"
#include "reward/reward_spec.h"
#include "rollout/rollout_worker.h"
#include "util/status.h"

namespace r1 {

// A request for prompts `indices` (positions in `prompts`, which become the
// samples' prompt_index).
RolloutRequest make_rollout_request(const PromptSet& prompts, const std::vector<int64_t>& indices,
                                    const RolloutSampling& sampling, int64_t step = 0, int64_t policy_version = 0);

struct ScoredRollout {
  RolloutResult result;  // samples with prompt, prompt_ids, reference_answer and reward filled
  double sample_seconds = 0;  // wall time in the worker
  double reward_seconds = 0;  // wall time scoring
};

// Samples `request` with `worker` and scores every sample with `reward` on
// `reward_workers` threads (<= 0: one per core). Errors name the example
// (file and line) and the sample.
Result<ScoredRollout> sample_and_score(RolloutWorker& worker, const RolloutRequest& request, const PromptSet& prompts,
                                       const RewardFunction& reward, int reward_workers);

}  // namespace r1
