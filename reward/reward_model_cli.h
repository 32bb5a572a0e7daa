// `r1 rm ...`: reward models (*ForSequenceClassification checkpoints).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

// Adds the `rm` group with `rm score`.
void add_reward_model_commands(CLI::App& app);

}  // namespace r1
