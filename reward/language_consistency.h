// R1's language-consistency reward: the share of the chain of thought (the
// <think> part) written in the target language, judged by Unicode script.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reward/checker_params.h"
#include "reward/reward_checker.h"

namespace r1 {

// Word counts per script in a text. Han, Hiragana and Katakana are written
// without spaces, so each such character counts as one word; for every other
// script a maximal run of its letters (with combining marks) is one word.
// Letters of scripts not listed in script_names() count under "Other".
// Digits, punctuation and symbols count for nothing.
std::map<std::string, int64_t> count_words_by_script(std::string_view text);

// The scripts a language is written in, e.g. "en" -> {"Latin"}, "zh" ->
// {"Han"}, "ja" -> {"Han", "Hiragana", "Katakana"}; error for an unknown code.
Result<std::vector<std::string>> language_scripts(const std::string& language);

// The chain of thought: from after the first "<think>" to the next
// "</think>" (or the end if unclosed); without "<think>", everything before
// the first "</think>" (templates that put "<think>" in the prompt). Neither
// tag: nullopt.
std::optional<std::string_view> chain_of_thought(std::string_view completion);

struct LanguageShare {
  double share = 0.0;  // target words / all words; 0 when there are none
  int64_t target_words = 0;
  int64_t total_words = 0;
  std::map<std::string, int64_t> words;
};
LanguageShare language_share(std::string_view text, const std::vector<std::string>& target_scripts);

// Spec factory "language": params {"language": "en"} (default "en"); scores
// the share of the chain of thought, 0 when there is none.
Result<std::unique_ptr<RewardChecker>> make_language_checker(CheckerParams& params);

}  // namespace r1
