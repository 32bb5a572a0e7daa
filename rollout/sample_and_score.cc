#include "rollout/sample_and_score.h"

#include <chrono>

#include "reward/batch_scorer.h"

namespace r1 {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

RolloutRequest make_rollout_request(const PromptSet& prompts, const std::vector<int64_t>& indices,
                                    const RolloutSampling& sampling, int64_t step, int64_t policy_version) {
  RolloutRequest r{.step = step, .policy_version = policy_version, .sampling = sampling, .prompts = {}};
  for (int64_t i : indices) r.prompts.push_back({.prompt_index = i, .prompt_ids = prompts.ids[i]});
  return r;
}

Result<ScoredRollout> sample_and_score(RolloutWorker& worker, const RolloutRequest& request, const PromptSet& prompts,
                                       const RewardFunction& reward, int reward_workers) {
  for (const RolloutPrompt& p : request.prompts)
    if (p.prompt_index < 0 || p.prompt_index >= static_cast<int64_t>(prompts.size()))
      return Status::error("rollout request: prompt_index " + std::to_string(p.prompt_index) + " is not in the " +
                           std::to_string(prompts.size()) + " prompts");
  ScoredRollout out;
  auto start = Clock::now();
  R1_ASSIGN_OR_RETURN(out.result, worker.run(request));
  out.sample_seconds = seconds_since(start);
  std::vector<Sample>& samples = out.result.samples;
  std::vector<RewardInput> inputs;
  for (Sample& s : samples) {
    const Example& e = prompts.examples[s.prompt_index];
    s.prompt = prompts.texts[s.prompt_index];
    s.prompt_ids = prompts.ids[s.prompt_index];
    if (!e.answer.empty()) s.reference_answer = e.answer;
    inputs.push_back({.completion = s.completion,
                      .num_tokens = static_cast<int64_t>(s.token_ids.size()),
                      .finish_reason = s.finish_reason,
                      .reference = &prompts.references[s.prompt_index],
                      .where = e.where + " sample " + std::to_string(s.sample_index)});
  }
  start = Clock::now();
  R1_ASSIGN_OR_RETURN(std::vector<RewardResult> rewards, score_batch(reward, inputs, reward_workers));
  out.reward_seconds = seconds_since(start);
  for (size_t i = 0; i < samples.size(); ++i) samples[i].reward = std::move(rewards[i]);
  return out;
}

}  // namespace r1
