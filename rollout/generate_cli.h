// `r1 generate`: sampled completions for JSONL prompts, through the same
// rollout worker as every other job.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_generate_command(CLI::App& app);

}  // namespace r1
