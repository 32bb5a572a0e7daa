// `r1 model init` and `r1 logprobs` (`r1 generate` is rollout/generate_cli.h).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_model_commands(CLI::App& app);

}  // namespace r1
