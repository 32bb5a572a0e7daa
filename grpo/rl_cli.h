// `r1 rl`: runs a GRPO job from a JSON config (grpo/rl_config.h).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_rl_commands(CLI::App& app);

}  // namespace r1
