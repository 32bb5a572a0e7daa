#include "rollout/rollout_worker.h"

#include "model/generate.h"

namespace r1 {

Result<RolloutResult> LocalRolloutWorker::run(const RolloutRequest& request) {
  const RolloutSampling& s = request.sampling;
  if (!s.stop_strings.empty() && !tokenizer_)
    return Status::error("rollout request: stop strings need a worker with a tokenizer");
  GenerationOptions options;
  options.num_samples = s.num_generations;
  options.max_new_tokens = s.max_completion_length;
  options.sampling = {s.temperature, s.top_k, s.top_p, s.min_p};
  options.stop_token_ids = s.stop_token_ids;
  options.stop_strings = s.stop_strings;
  if (tokenizer_) options.decode = [this](const std::vector<int64_t>& ids) { return tokenizer_->decode(ids); };
  options.seed = s.seed;
  std::vector<std::vector<int64_t>> prompts;
  for (const auto& p : request.prompts) prompts.push_back(p.prompt_ids);
  GenerationStats stats;
  R1_ASSIGN_OR_RETURN(std::vector<Completion> completions, generate(policy_, prompts, options, &stats));
  RolloutResult result;
  result.step = request.step;
  result.policy_version = request.policy_version;
  result.prefill_tokens = stats.prefill_tokens;
  result.completion_tokens = stats.decode_tokens;
  result.prefill_seconds = stats.prefill_seconds;
  result.decode_seconds = stats.decode_seconds;
  for (Completion& c : completions) {
    RolloutSample sample;
    sample.prompt_index = request.prompts[c.prompt_index].prompt_index;
    sample.sample_index = c.sample_index;
    sample.token_ids = std::move(c.token_ids);
    sample.logprobs = std::move(c.logprobs);
    sample.finish_reason = std::move(c.finish_reason);
    result.samples.push_back(std::move(sample));
  }
  return result;
}

}  // namespace r1
