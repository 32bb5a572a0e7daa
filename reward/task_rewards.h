// Task-specific correctness rewards that need no math or code checker:
// Countdown as scored by TinyZero, and GSM8K in verl's strict "#### N" mode.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reward/checker_params.h"
#include "reward/reward_checker.h"

namespace r1 {

struct CountdownOptions {
  double format_score = 0.1;  // an answer was found but is wrong
  double score = 1.0;         // correct equation
};

struct CountdownOutcome {
  double score = 0.0;
  std::optional<std::string> equation;  // the extracted answer, if any
  bool numbers_ok = false;              // each given number used exactly once
  std::optional<double> value;          // the equation's value, if it evaluates
};

// TinyZero's countdown rule. The answer is the last "<answer>(.*?)</answer>"
// on the completion's final line (text after the last '\n'), stripped; no
// answer scores 0. Else the integers in it (runs of digits) must equal
// `numbers` as multisets and the value must be within 1e-5 of `target` for
// `score`; anything else scores `format_score`.
CountdownOutcome score_countdown(std::string_view completion, const std::vector<int64_t>& numbers, double target,
                                 const CountdownOptions& options);

struct Gsm8kOptions {
  double format_score = 0.0;  // "#### N" present but wrong
  double score = 1.0;
};

// The text matched by the last "#### \$?(-?[0-9.,]+)" (verl's strict
// pattern, plus an optional '$'), commas removed; nullopt when none.
std::optional<std::string> extract_gsm8k_answer(std::string_view text);

// 0 without "#### N"; `score` when N parses as a number equal to the gold
// number, else `format_score` (also when N is not a number, e.g. "1.2.3"). `gold` is a bare number or a GSM8K worked
// solution ending in "#### N"; an unparseable gold is an error.
Result<double> score_gsm8k(std::string_view completion, std::string_view gold, const Gsm8kOptions& options);

// Spec factories. countdown reads reference fields "numbers" (integer list)
// and "target" (number); gsm8k reads "answer" (string or number).
Result<std::unique_ptr<RewardChecker>> make_countdown_checker(CheckerParams& params);
Result<std::unique_ptr<RewardChecker>> make_gsm8k_checker(CheckerParams& params);

}  // namespace r1
