// What the learner asks of rollout workers and what comes back: plain,
// JSON-serialisable data stamped with the policy version that sampled it, so
// that workers can move to other processes or hosts without the learner
// changing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

struct RolloutSampling {
  int64_t num_generations = 1;  // G, TRL's name
  int64_t max_completion_length = 256;
  double temperature = 1.0;
  int64_t top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  std::vector<int64_t> stop_token_ids;
  std::vector<std::string> stop_strings;
  uint64_t seed = 0;
};

struct RolloutPrompt {
  int64_t prompt_index = 0;  // the example's index in the dataset
  std::vector<int64_t> prompt_ids;
};

struct RolloutRequest {
  int64_t step = 0;
  int64_t policy_version = 0;
  RolloutSampling sampling;
  std::vector<RolloutPrompt> prompts;
};

struct RolloutSample {
  int64_t prompt_index = 0;
  int64_t sample_index = 0;
  std::vector<int64_t> token_ids;
  std::vector<float> logprobs;  // sampling policy, per token
  std::string finish_reason;    // "stop" | "length"
};

struct RolloutResult {
  int64_t step = 0;
  int64_t policy_version = 0;
  std::vector<RolloutSample> samples;  // ordered by (prompt order in the request, sample_index)
  int64_t prefill_tokens = 0;
  int64_t completion_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

std::string to_json(const RolloutRequest& request);
std::string to_json(const RolloutResult& result);
Result<RolloutRequest> rollout_request_from_json(const std::string& json, const std::string& where);
Result<RolloutResult> rollout_result_from_json(const std::string& json, const std::string& where);

}  // namespace r1
