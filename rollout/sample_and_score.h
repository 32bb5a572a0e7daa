// The one sample-and-score path of every job: build a request for some
// prompts of a PromptSet, sample it with a RolloutWorker, attach each
// sample's prompt, and score it with the reward function.
#pragma once

#include <vector>

#include "data/prompt_set.h"
#include "reward/reward_spec.h"
#include "rollout/rollout_worker.h"
#include "train/process_group.h"
#include "util/status.h"

namespace r1 {

// Every prompt's reference row checked as `reward` will read it when its
// samples are scored (RewardFunction::check_reference): a row that
// lacks its answer fails the job before anything is sampled, naming the
// file and line, not when that row's batch comes up.
Status check_reward_references(const RewardFunction& reward, const PromptSet& prompts);

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
//
// With `group` (the ranks of a data-parallel run, each calling with the
// same request), rank r samples and scores the r-th contiguous run of the
// request's prompts (whole groups; the cut generate() makes into decode
// streams) on its own worker, and every rank gets every rank's scored
// samples, in request order. Rows draw from their own random streams, so
// the ranks together sample what one process samples; N one-thread ranks
// decode the batches of one N-thread process, log-probs bit for bit. Token
// counts are summed over ranks; the seconds are this rank's.
Result<ScoredRollout> sample_and_score(RolloutWorker& worker, const RolloutRequest& request, const PromptSet& prompts,
                                       const RewardFunction& reward, int reward_workers,
                                       ProcessGroup* group = nullptr);

}  // namespace r1
