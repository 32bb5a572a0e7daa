// `r1 inspect RUN_DIR|DB... [--listen HOST:PORT]`: the rollout inspector,
// a page and a JSON API over run folders and rollout/eval databases
// (docs/inspector.md).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_inspect_command(CLI::App& app);

}  // namespace r1
