// `r1 eval`: evaluate a model on a dataset with the reward checkers.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_eval_commands(CLI::App& app);

}  // namespace r1
