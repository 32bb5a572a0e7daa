// `r1 code-check`: runs programs from a JSONL file against their tests in the
// sandbox and writes one JSON line per row (score and per-test statuses).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_code_commands(CLI::App& app);

}  // namespace r1
