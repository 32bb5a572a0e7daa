// Rollouts as JSON Lines: one object per rollout with every stored field.
#pragma once

#include <cstdint>
#include <string>

#include "rollout/rollout_reader.h"
#include "rollout/rollout_record.h"
#include "util/status.h"

namespace r1 {

// {"step":..,"policy_version":..,"prompt_index":..,"group_index":..,"sample_index":..,
//  "prompt":..,"completion":..,"prompt_tokens":..,"completion_tokens":..,"finish_reason":..,
//  "reward_components":{"name":value,..},"total_reward":..,"advantage":..,
//  "old_logprob":{"sum":..,"mean":..,"min":..},"generation_ms":..,"reference_answer":string|null}
// Non-finite numbers are written as null (JSON has no NaN/Inf).
std::string rollout_to_json(const StoredRollout& r);

// Writes the matching rollouts to `path` atomically ("-" is stdout); returns
// how many were written.
Result<int64_t> export_rollouts_jsonl(RolloutReader& reader, const RolloutFilter& filter, const std::string& path);

}  // namespace r1
