// Shaping rewards that look at length and repetition rather than correctness:
// DAPO's soft overlong penalty, open-r1's cosine length scaling and open-r1's
// n-gram repetition penalty.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "reward/checker_params.h"
#include "reward/reward_checker.h"

namespace r1 {

struct OverlongOptions {
  int64_t max_completion_length = 0;  // L_max, in tokens
  int64_t overlong_buffer = 0;        // L_cache: the soft zone before L_max
  double penalty_factor = 1.0;
};

// DAPO soft overlong punishment (as TRL's get_soft_overlong_punishment, times
// penalty_factor as in verl): 0 while length <= L_max - L_cache, then
// linearly down to -factor at L_max, and -factor beyond L_max.
double overlong_penalty(int64_t length, const OverlongOptions& options);

struct CosineOptions {
  double min_value_wrong = -1.0;
  double max_value_wrong = -0.5;
  double min_value_correct = 0.5;
  double max_value_correct = 1.0;
  int64_t max_len = 1000;
  // open-r1 lets cos run on past max_len (the reward climbs back up); TRL's
  // get_cosine_scaled_reward clamps length / max_len to 1.
  bool clip_progress = false;
};

// open-r1 cosine_scaled_reward: with c = cos(pi * length / max_len),
// correct: min_c + (max_c - min_c) * (1 + c) / 2 (max_c at length 0, min_c at
// max_len); wrong: max_w + (min_w - max_w) * (1 + c) / 2 (min_w at 0, max_w
// at max_len). By default, as in open-r1, length is not clamped to max_len.
double cosine_scaled_reward(bool correct, int64_t length, const CosineOptions& options);

// open-r1 repetition_penalty_reward: words = lowercase text split on Unicode
// whitespace; (1 - distinct n-grams / n-grams) * max_penalty; 0 for fewer
// than n words. max_penalty must be <= 0.
double repetition_penalty(std::string_view text, int64_t ngram_size, double max_penalty);

// Python's len(str): the number of code points of valid UTF-8 text.
int64_t count_code_points(std::string_view text);

// Builds a nested checker from a spec entry {"checker": ..., "params": ...};
// the registry supplies it, so cosine can judge correctness with any checker.
using NestedCheckerBuilder =
    std::function<Result<std::unique_ptr<RewardChecker>>(const JsonValue& entry, const std::string& where)>;

// Spec factories: "overlong" (max_completion_length, overlong_buffer,
// penalty_factor; needs the input's token count), "cosine" (the CosineOptions
// fields, length_unit "chars"|"tokens", clip_progress, correctness: a checker name or entry,
// correct_threshold), "repetition" (ngram_size, max_penalty).
Result<std::unique_ptr<RewardChecker>> make_overlong_checker(CheckerParams& params);
Result<std::unique_ptr<RewardChecker>> make_cosine_checker(CheckerParams& params, const NestedCheckerBuilder& build);
Result<std::unique_ptr<RewardChecker>> make_repetition_checker(CheckerParams& params);

}  // namespace r1
