// Command-line inputs shared by `r1 generate` and `r1 logprobs`: the model
// options (folder, device, dtype, threads) and prompt rows ({"prompt_ids"},
// {"prompt"} or {"messages"}). Errors are thrown as r1::Error (CLI code).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "model/compute_options.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "util/json.h"

namespace r1 {

struct ModelOptions {
  std::string model;
  ComputeOptions compute;  // --device, --dtype ("auto" dtype keeps the checkpoint's)
  int threads = 0;
};

void add_model_options(CLI::App* cmd, ModelOptions& o);
Transformer load_model(const ModelOptions& o);
std::optional<Tokenizer> load_tokenizer_if_present(const std::string& dir);
// The tokenizer, or an error naming `where` when the folder has none.
const Tokenizer& need_tokenizer(const std::optional<Tokenizer>& tok, const std::string& where);

// A prompt row: {"prompt_ids": [...]}, {"prompt": "..."} or {"messages": [...]}.
struct PromptText {
  std::string text;
  std::vector<int64_t> ids;
};

PromptText read_prompt(const JsonValue& row, const std::string& where, const std::optional<Tokenizer>& tok,
                       const std::string& template_name);

}  // namespace r1
