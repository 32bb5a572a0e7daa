// Preference pairs for reward modelling, read from JSONL in TRL's dataset
// forms (RewardTrainer), one pair per line:
//   {"chosen": "text", "rejected": "text"}                      implicit prompt
//   {"prompt": "text", "chosen": "text", "rejected": "text"}    explicit prompt, prepended
//   {"chosen": [messages], "rejected": [messages]}              conversational
//   {"prompt": [messages], "chosen": [messages], "rejected": [messages]}
//   {"chosen_ids": [...], "rejected_ids": [...]}                tokenized
// each with an optional "margin" (every row or none). Tokenized as TRL
// does: plain text with the tokenizer's special tokens and the eos appended
// unless the text ends with it; conversations rendered whole by the chat
// template.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "util/status.h"

namespace r1 {

struct PreferencePair {
  std::vector<int64_t> chosen, rejected;
  std::optional<double> margin;
};

struct PreferenceDataOptions {
  std::optional<ChatTemplate> chat_template;  // needed by conversational rows
  std::optional<int64_t> eos_id;              // appended to plain-text sides
  int64_t max_length = 1024;                  // longer pairs are left out
  int64_t vocab_size = 0;                     // > 0: ids must lie below it
};

struct PreferenceData {
  std::vector<PreferencePair> pairs;
  int64_t too_long = 0;  // pairs left out by max_length
};

// Errors name the file, the line and the field.
Result<PreferenceData> load_preference_pairs(const std::string& path, const Tokenizer& tok,
                                             const PreferenceDataOptions& options);

}  // namespace r1
