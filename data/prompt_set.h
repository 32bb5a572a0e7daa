// The prompts a job samples from: its examples rendered through the chat
// template and tokenised, with their parsed reference fields. `r1 rl`,
// `r1 eval` and `r1 sample` build one the same way; rollout requests name
// a prompt by its position here.
#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <vector>

#include "data/example.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "util/status.h"

namespace r1 {

struct PromptSet {
  std::vector<Example> examples;                // [i] the dataset row
  std::vector<std::string> texts;               // [i] the rendered prompt
  std::vector<std::vector<int64_t>> ids;        // [i] its tokens
  std::vector<rapidjson::Document> references;  // [i] parsed reference_json

  size_t size() const { return examples.size(); }
};

// "auto" detects the tokenizer's template, "none" uses prompts as they are,
// else the named template (chatml, llama3, r1_zero).
Result<std::optional<ChatTemplate>> resolve_chat_template(const std::string& name, const Tokenizer& tokenizer);

// Renders and tokenises every example; max_prompt_tokens > 0 keeps each
// prompt's last that many tokens (TRL's max_prompt_length). Errors name the
// example's file and line.
Result<PromptSet> make_prompt_set(const std::vector<Example>& examples, const std::optional<ChatTemplate>& tmpl,
                                  const Tokenizer& tokenizer, int64_t max_prompt_tokens = 0);

}  // namespace r1
