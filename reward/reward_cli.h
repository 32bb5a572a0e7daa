// `r1 reward ...`: score completions with a reward spec.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

// Adds the `reward` group with `reward score`.
void add_reward_commands(CLI::App& app);

}  // namespace r1
