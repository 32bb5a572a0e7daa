// `r1 data ...`: generate built-in tasks, write a pretraining corpus, and
// show how a dataset's prompts render.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

// Adds the `data` group with `data tasks`, `data corpus` and `data show`.
void add_data_commands(CLI::App& app);

}  // namespace r1
