#include "rollout/rollout_worker.h"

#include "model/generate.h"

namespace r1 {

namespace {

// The completion as vLLM returns it: cut before the first stop string.
std::string cut_at_stop(std::string text, const std::vector<std::string>& stops) {
  size_t cut = std::string::npos;
  for (const auto& s : stops)
    if (!s.empty()) cut = std::min(cut, text.find(s));
  if (cut != std::string::npos) text.resize(cut);
  return text;
}

GenerationOptions generation_options(const RolloutSampling& s) {
  GenerationOptions o;
  o.num_samples = s.num_generations;
  o.max_new_tokens = s.max_completion_length;
  o.sampling = s.options;
  o.stop_token_ids = s.stop_token_ids;
  o.stop_strings = s.stop_strings;
  o.seed = s.seed;
  o.record_routes = s.record_routes;
  return o;
}

}  // namespace

Result<RolloutResult> LocalRolloutWorker::run(const RolloutRequest& request) {
  const RolloutSampling& s = request.sampling;
  if (!s.stop_strings.empty() && !tokenizer_)
    return Status::error("rollout request: stop strings need a worker with a tokenizer");
  GenerationOptions options = generation_options(s);
  if (tokenizer_) options.decode = [this](const std::vector<int64_t>& ids) { return tokenizer_->decode(ids); };
  GenerationStats stats;
  R1_ASSIGN_OR_RETURN(std::vector<Sample> samples, generate(policy_, request.prompts, options, &stats));
  RolloutResult result{.step = request.step,
                       .policy_version = request.policy_version,
                       .samples = std::move(samples),
                       .prefill_tokens = stats.prefill_tokens,
                       .completion_tokens = stats.decode_tokens,
                       .prefill_seconds = stats.prefill_seconds,
                       .decode_seconds = stats.decode_seconds};
  // The batch is sampled together; each sample gets an equal share.
  double ms = 1000.0 * (stats.prefill_seconds + stats.decode_seconds) / std::max<size_t>(1, result.samples.size());
  for (Sample& sample : result.samples) {
    sample.step = request.step;
    sample.policy_version = request.policy_version;
    sample.generation_ms = ms;
    // Like vLLM and batch_decode(skip_special_tokens=True): eos and other
    // special tokens stay in token_ids but not in the text.
    if (tokenizer_)
      sample.completion =
          cut_at_stop(tokenizer_->decode(sample.token_ids, /*skip_special_tokens=*/true), s.stop_strings);
  }
  return result;
}

}  // namespace r1
