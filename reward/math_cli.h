// `r1 math-check`: judges JSONL pairs with the maths checker.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_math_commands(CLI::App& app);

}  // namespace r1
