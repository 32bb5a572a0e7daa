#include "rollout/sample_and_score.h"

#include <chrono>

#include "reward/reward_spec.h"
#include "rollout/rollout_worker_pool.h"

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

namespace {

// What the reward reads of prompt i besides the completion.
RewardInput prompt_input(const PromptSet& prompts, size_t i, std::string where) {
  return {.completion = {},
          .num_tokens = std::nullopt,
          .finish_reason = {},
          .reference = &prompts.references[i],
          .where = std::move(where),
          .prompt = prompts.examples[i].prompt,
          .system = prompts.examples[i].system};
}

// The requester's fields, which the worker and the wire leave out.
void attach_prompt(Sample& s, const PromptSet& prompts) {
  s.prompt = prompts.texts[s.prompt_index];
  s.prompt_ids = prompts.ids[s.prompt_index];
  const Example& e = prompts.examples[s.prompt_index];
  if (!e.answer.empty()) s.reference_answer = e.answer;
}

Result<ScoredRollout> sample_and_score_here(RolloutWorker& worker, const RolloutRequest& request,
                                            const PromptSet& prompts, const RewardFunction& reward,
                                            int reward_workers) {
  ScoredRollout out;
  auto start = Clock::now();
  R1_ASSIGN_OR_RETURN(out.result, worker.run(request));
  out.sample_seconds = seconds_since(start);
  std::vector<Sample>& samples = out.result.samples;
  std::vector<RewardInput> inputs;
  for (Sample& s : samples) {
    attach_prompt(s, prompts);
    const size_t i = static_cast<size_t>(s.prompt_index);
    RewardInput in = prompt_input(prompts, i, prompts.examples[i].where + ": sample " + std::to_string(s.sample_index));
    in.completion = s.completion;
    in.num_tokens = static_cast<int64_t>(s.token_ids.size());
    in.finish_reason = s.finish_reason;
    inputs.push_back(std::move(in));
  }
  start = Clock::now();
  R1_ASSIGN_OR_RETURN(std::vector<RewardResult> rewards, reward.score_all(inputs, reward_workers));
  out.reward_seconds = seconds_since(start);
  for (size_t i = 0; i < samples.size(); ++i) samples[i].reward = std::move(rewards[i]);
  return out;
}

// This rank's run of the request, sampled and scored; then every rank's.
Result<ScoredRollout> sample_and_score_over_ranks(RolloutWorker& worker, const RolloutRequest& request,
                                                  const PromptSet& prompts, const RewardFunction& reward,
                                                  int reward_workers, ProcessGroup& group) {
  const int64_t ranks = group.world_size();
  RolloutRequest mine = request;
  mine.prompts = split_prompts(request.prompts, static_cast<size_t>(ranks))[group.rank()];
  Result<ScoredRollout> local = mine.prompts.empty()
                                    ? Result<ScoredRollout>(ScoredRollout{})
                                    : sample_and_score_here(worker, mine, prompts, reward, reward_workers);
  // A failed rank still takes part in the gather (with its error), so the
  // others fail at once naming it rather than time out.
  std::string payload = local.ok() ? "ok" + to_json(local->result) : "error" + local.status().message();
  R1_ASSIGN_OR_RETURN(std::vector<std::string> all, group.all_gather(payload));
  ScoredRollout out;
  out.result = RolloutResult{.step = request.step, .policy_version = request.policy_version};
  for (int64_t r = 0; r < ranks; ++r) {
    const std::string& p = all[r];
    if (p.rfind("error", 0) == 0)
      return Status::error("rank " + std::to_string(r) + " failed to sample or score: " + p.substr(5));
    R1_ASSIGN_OR_RETURN(RolloutResult part, rollout_result_from_json(p.substr(2), "rank " + std::to_string(r) +
                                                                                      "'s samples"));
    for (Sample& s : part.samples) {
      attach_prompt(s, prompts);
      out.result.samples.push_back(std::move(s));
    }
    out.result.prefill_tokens += part.prefill_tokens;
    out.result.completion_tokens += part.completion_tokens;
  }
  out.sample_seconds = local->sample_seconds;
  out.reward_seconds = local->reward_seconds;
  return out;
}

}  // namespace

Status check_reward_references(const RewardFunction& reward, const PromptSet& prompts) {
  for (size_t i = 0; i < prompts.size(); ++i)
    R1_RETURN_IF_ERROR(reward.check_reference(prompt_input(prompts, i, prompts.examples[i].where)));
  return Status();
}

Result<ScoredRollout> sample_and_score(RolloutWorker& worker, const RolloutRequest& request, const PromptSet& prompts,
                                       const RewardFunction& reward, int reward_workers, ProcessGroup* group) {
  for (const RolloutPrompt& p : request.prompts)
    if (p.prompt_index < 0 || p.prompt_index >= static_cast<int64_t>(prompts.size()))
      return Status::error("rollout request: prompt_index " + std::to_string(p.prompt_index) + " is not in the " +
                           std::to_string(prompts.size()) + " prompts");
  if (group) return sample_and_score_over_ranks(worker, request, prompts, reward, reward_workers, *group);
  return sample_and_score_here(worker, request, prompts, reward, reward_workers);
}

}  // namespace r1
