// Every setting of `r1 rm train`: TrainingArguments' keys plus TRL
// RewardConfig's own, through one field table (`r1 rm train --help-config`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "train/training_arguments.h"

namespace r1 {

// train_file rows are preference pairs (reward/preference_data.h).
struct RewardConfig : TrainingArguments {
  RewardConfig() { learning_rate = 1e-4; }  // TRL RewardConfig's default

  // Renders conversational rows: auto (the tokenizer's), chatml, llama3.
  std::string chat_template = "auto";
  // Pairs whose chosen or rejected side is longer are left out, as TRL
  // filters them (the count is logged); nothing is truncated.
  int64_t max_length = 1024;
  // Weight of mean((r_chosen + r_rejected)^2); null = none (TRL's None).
  std::optional<double> center_rewards_coefficient;
};

const ConfigFields<RewardConfig>& reward_config_fields();

// Reads `path`, applies `overrides` (key=value, VALUE JSON when it parses),
// then validates; errors name the file and key.
Result<RewardConfig> load_reward_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace r1
