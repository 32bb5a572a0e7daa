// What one GRPO generation produced (plain data) and the metrics logged for
// it, under TRL's names: reward, reward_std, rewards/<name>/mean|std,
// frac_reward_zero_std, completions/*, kl, entropy, clip_ratio/*, ...
// docs/grpo.md lists every metric.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "grpo/learner.h"
#include "reward/reward_spec.h"

namespace r1 {

// One sampled completion with its scores.
struct RLSample {
  int64_t example = 0;       // dataset index of the prompt
  int64_t group = 0;         // group within the generation (G consecutive samples)
  int64_t sample_index = 0;  // 0..G-1
  std::vector<int64_t> token_ids;
  std::vector<float> logprobs;  // sampling policy
  std::string finish_reason;    // "stop" | "length"
  std::string text;             // decoded without special tokens
  RewardResult reward;
  double overlong_penalty = 0;  // DAPO soft overlong punishment (<= 0)
  double total = 0;             // reward.total + overlong_penalty
  double advantage = 0;         // 0 for samples not trained on
  bool trained = false;
};

struct RLGenerationStats {
  int64_t rounds = 0;  // sampling rounds (> 1 only with dynamic sampling)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double generate_seconds = 0;
  double reward_seconds = 0;
};

struct RLGeneration {
  std::vector<RLSample> samples;  // every group sampled, in order
  std::vector<size_t> trained;    // indices of the samples the updates use
  RLGenerationStats stats;
};

// Reward and completion metrics over every sample of the generation.
std::map<std::string, double> generation_metrics(const RLGeneration& gen, const std::vector<std::string>& components,
                                                 int64_t num_generations);

// Adds one optimizer step's metrics: loss, grad_norm, learning_rate, kl,
// entropy, clip ratios, time/update.
void add_update_metrics(std::map<std::string, double>& metrics, const LearnerStepStats& stats, double learning_rate,
                        double update_seconds);

}  // namespace r1
