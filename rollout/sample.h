// One sampled completion: the one record that flows from the rollout worker
// (what was drawn) through the rewards (how it scored) and the advantages
// to the learner and the rollout store. Plain data, no tensors; build it
// with designated initialisers. Fields are filled in that order:
//
//   worker      prompt_index, sample_index, token_ids, logprobs,
//               finish_reason, completion, generation_ms, routed_experts
//   requester   step, policy_version, group_index, prompt, prompt_ids,
//               reference_answer
//   scoring     reward
//   trainer     advantage, trained, discard_reason, old_logprobs
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "reward/reward_result.h"

namespace r1 {

// Built with designated initialisers; the `{}` on members without a default
// keeps GCC 12's -Wmissing-field-initializers quiet about those left out.
struct Sample {
  int64_t step = 0;            // training step whose update consumes it (0 outside RL)
  int64_t policy_version = 0;  // weights version that sampled it
  int64_t prompt_index = 0;    // the prompt's index in its dataset; keys its random streams
  int64_t group_index = 0;     // the prompt's group within the step (G consecutive samples)
  int64_t sample_index = 0;    // 0..G-1 within the group

  std::string prompt{};               // the rendered prompt text
  std::vector<int64_t> prompt_ids{};  // the tokens it was sampled after
  std::optional<std::string> reference_answer{};

  std::vector<int64_t> token_ids{};  // the completion, eos or stop token included
  // Sampling policy's log-prob of each token: log-softmax(logits /
  // temperature), before top-k/top-p/min-p truncation (model/sampler.h).
  std::vector<float> logprobs{};
  std::string finish_reason = "stop";  // "stop" (eos, stop token or string) | "length"
  // Decoded without special tokens and cut before the first stop string:
  // the text the rewards read, the store keeps and SFT trains on.
  std::string completion{};
  double generation_ms = 0.0;  // this sample's share of its batch's sampling time
  // DeepSeekMoE policies, when the job records routes (routing_replay): the
  // experts the sampler routed each token to, for every token it ran through
  // the model (the prompt, then the completion but its last token), each
  // token's [MoE layers x k] in layer order; empty otherwise.
  std::vector<int16_t> routed_experts{};

  RewardResult reward{};    // components in spec order (+ shaping terms); total
  double advantage = 0.0;
  bool trained = false;   // in the learner's batch (dynamic sampling may leave groups out)
  std::string discard_reason{};  // why it is not in the loss ("" = it is); kDiscard* of rollout/rollout_record.h
  // The learner's log-probs of token_ids before the generation's first
  // update (π_old), when sampling ran ahead of the learner and the
  // generation has several updates; empty otherwise (grpo/learner.h).
  std::vector<float> old_logprobs{};
};

// A prompt to sample from: its dataset index (which keys its samples' random
// streams) and tokens.
struct RolloutPrompt {
  int64_t prompt_index = 0;  // unique within a request
  std::vector<int64_t> prompt_ids;
};

// Summary of a sample's sampling log-probs, as the store keeps them.
struct LogProbSummary {
  double sum = 0.0;
  double mean = 0.0;
  double min = 0.0;
};

inline LogProbSummary summarize_logprobs(const std::vector<float>& logprobs) {
  LogProbSummary s;
  if (logprobs.empty()) return s;
  s.min = logprobs.front();
  for (float x : logprobs) {
    s.sum += x;
    s.min = s.min < x ? s.min : x;
  }
  s.mean = s.sum / static_cast<double>(logprobs.size());
  return s;
}

}  // namespace r1
