// `r1 tokenize` (JSONL text <-> ids) and `r1 tokenizer train`.
#pragma once

#include <CLI/CLI.hpp>

namespace r1 {

void add_tokenizer_commands(CLI::App& app);

}  // namespace r1
