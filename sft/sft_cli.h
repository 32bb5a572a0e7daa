// `r1 sft`: supervised fine-tuning from a JSON config (docs/sft.md).
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_sft_commands(CLI::App& app);

}  // namespace r1
