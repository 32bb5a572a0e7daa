// What one GRPO generation produced (plain data) and the metrics logged for
// it, under TRL's names: reward, reward_std, rewards/<name>/mean|std,
// frac_reward_zero_std, completions/*, kl, entropy, clip_ratio/*, ...
// docs/grpo.md lists every metric.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "grpo/learner.h"
#include "rollout/sample.h"

namespace r1 {

struct RLGenerationStats {
  int64_t rounds = 0;  // sampling rounds (> 1 only with dynamic sampling)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double generate_seconds = 0;
  double reward_seconds = 0;
};

struct RLGeneration {
  int64_t index = 0;           // generations before it in the run
  int64_t policy_version = 0;  // the global step of the weights that sampled it
  // Every group sampled, in order; group_index counts groups within the
  // generation, and a sample's reward.total includes the overlong penalty.
  std::vector<Sample> samples;
  std::vector<size_t> trained;    // indices of the samples the updates use
  RLGenerationStats stats;
  std::string cursor_after;  // the data cursor after its prompts were drawn (BatchSampler state JSON)
  double epoch_after = 0;    // epochs of prompts drawn by then
};

// Reward and completion metrics over every sample of the generation.
std::map<std::string, double> generation_metrics(const RLGeneration& gen, const std::vector<std::string>& components,
                                                 int64_t num_generations);

// Adds one optimizer step's metrics: loss, grad_norm, learning_rate, kl,
// entropy, clip ratios, time/update.
void add_update_metrics(std::map<std::string, double>& metrics, const LearnerStepStats& stats, double learning_rate,
                        double update_seconds);

}  // namespace r1
