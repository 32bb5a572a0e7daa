// `r1 rollouts --db RUN/rollouts.db <steps|show|follow|export|summary>`:
// read-only views of a run's rollout store, usable while the run writes it.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_rollouts_commands(CLI::App& app);

}  // namespace r1
