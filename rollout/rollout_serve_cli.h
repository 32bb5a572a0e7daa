// `r1 rollout serve`: this process becomes a rollout worker that learners
// reach over TCP (rollout/rollout_server.h, docs/distributed.md).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_rollout_commands(CLI::App& app);

}  // namespace r1
