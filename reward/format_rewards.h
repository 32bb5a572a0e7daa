// R1 format rewards: is the completion "<think>...</think>" followed by
// "<answer>...</answer>"? Strict and lenient regexes as in open-r1/TRL, and
// open-r1's tag_count_reward (0.25 per correctly placed tag).
#pragma once

#include <memory>
#include <string_view>

#include "reward/checker_params.h"
#include "reward/reward_checker.h"

namespace r1 {

// 1.0 when the whole completion matches open-r1's format_reward pattern
//   ^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$   (DOTALL | MULTILINE)
// else 0.0. MULTILINE lets `$` match before any newline, so text on lines
// after "</answer>" is still accepted, exactly as in open-r1.
double format_reward_strict(std::string_view completion);

// 1.0 when the completion matches TRL's documented format reward
//   ^<think>.*?</think>\s*<answer>.*?</answer>$   (DOTALL)
// else 0.0: no newlines required, only whitespace between the blocks, and
// nothing but an optional final newline after "</answer>".
double format_reward_lenient(std::string_view completion);

// open-r1 tag_count_reward: +0.25 for each of "<think>\n", "\n</think>\n",
// "\n<answer>\n", "\n</answer>" that occurs exactly once (0, 0.25, ..., 1.0).
double tag_count_reward(std::string_view completion);

// Spec factories ("format", "format_lenient", "tag_count"); none takes params.
Result<std::unique_ptr<RewardChecker>> make_format_strict_checker(CheckerParams& params);
Result<std::unique_ptr<RewardChecker>> make_format_lenient_checker(CheckerParams& params);
Result<std::unique_ptr<RewardChecker>> make_tag_count_checker(CheckerParams& params);

}  // namespace r1
