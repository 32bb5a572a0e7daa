// `r1 sample`: rejection sampling for distillation data (docs/distill.md).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_distill_commands(CLI::App& app);

}  // namespace r1
