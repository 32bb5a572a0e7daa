// `r1 model init`, `r1 generate` and `r1 logprobs`.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_model_commands(CLI::App& app);

}  // namespace r1
