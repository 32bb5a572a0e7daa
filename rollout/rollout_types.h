// What the learner asks of rollout workers and what comes back: plain,
// JSON-serialisable data stamped with the policy version that sampled it, so
// that workers can move to other processes or hosts without the learner
// changing.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/sampling_options.h"
#include "rollout/sample.h"
#include "util/status.h"

namespace r1 {

struct RolloutSampling {
  int64_t num_generations = 1;  // G, TRL's name
  int64_t max_completion_length = 256;
  SamplingOptions options{};  // temperature, top_k, top_p, min_p
  std::vector<int64_t> stop_token_ids;
  std::vector<std::string> stop_strings;
  // With prompt_index and sample_index, keys each row's random stream
  // (util/counter_rng.h): a row's completion does not depend on which other
  // prompts share its request, batch, stream or worker.
  uint64_t seed = 0;
  // DeepSeekMoE policies: return each sample's routed_experts (rollout/sample.h).
  bool record_routes = false;
};

struct RolloutRequest {
  int64_t step = 0;
  int64_t policy_version = 0;
  RolloutSampling sampling{};
  std::vector<RolloutPrompt> prompts{};
};

struct RolloutResult {
  int64_t step = 0;
  int64_t policy_version = 0;
  // Ordered by (prompt order in the request, sample_index); the worker fills
  // the fields rollout/sample.h lists under "worker".
  std::vector<Sample> samples{};
  int64_t prefill_tokens = 0;
  int64_t completion_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

std::string to_json(const RolloutRequest& request);
std::string to_json(const RolloutResult& result);
Result<RolloutRequest> rollout_request_from_json(const std::string& json, const std::string& where);
Result<RolloutResult> rollout_result_from_json(const std::string& json, const std::string& where);
// The same from a parsed value (a field of a wire frame's header).
Result<RolloutRequest> rollout_request_from_json(const rapidjson::Value& json, const std::string& where);
Result<RolloutResult> rollout_result_from_json(const rapidjson::Value& json, const std::string& where);

}  // namespace r1
