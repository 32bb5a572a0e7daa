#include "reward/format_rewards.h"

#include <gtest/gtest.h>

#include "util/utf8.h"

namespace r1 {
namespace {

struct FormatCase {
  const char* text;
  double strict;
  double lenient;
};

// Expected values are what open-r1's / TRL's Python regexes return.
TEST(FormatRewards, StrictAndLenient) {
  const FormatCase cases[] = {
      {"<think>\nabc\n</think>\n<answer>\n42\n</answer>", 1, 1},
      // Trailing newline: `$` matches before it in both modes.
      {"<think>\nabc\n</think>\n<answer>\n42\n</answer>\n", 1, 1},
      // MULTILINE quirk of the strict pattern: later lines are ignored.
      {"<think>\nabc\n</think>\n<answer>\n42\n</answer>\nmore text", 1, 0},
      // No newlines inside tags: only lenient accepts.
      {"<think>abc</think><answer>42</answer>", 0, 1},
      {"<think>abc</think> \n <answer>42</answer>", 0, 1},
      // Multi-line reasoning is fine for both (DOTALL).
      {"<think>\nline1\nline2\n</think>\n<answer>\n42\n</answer>", 1, 1},
      // Text before <think> fails both (anchored at the start).
      {"Sure. <think>\nabc\n</think>\n<answer>\n42\n</answer>", 0, 0},
      // Text between the blocks fails both.
      {"<think>\nabc\n</think>\nso\n<answer>\n42\n</answer>", 0, 0},
      {"<think>abc</think>so<answer>42</answer>", 0, 0},
      // Missing answer block.
      {"<think>\nabc\n</think>\n", 0, 0},
      // Empty think needs two newlines for strict.
      {"<think>\n\n</think>\n<answer>\n42\n</answer>", 1, 1},
      {"<think>\n</think>\n<answer>\n42\n</answer>", 0, 1},
      {"", 0, 0},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(format_reward_strict(c.text), c.strict) << c.text;
    EXPECT_EQ(format_reward_lenient(c.text), c.lenient) << c.text;
  }
}

TEST(FormatRewards, TagCount) {
  const std::pair<const char*, double> cases[] = {
      {"<think>\nabc\n</think>\n<answer>\n42\n</answer>", 1.0},
      {"<think>abc</think><answer>42</answer>", 0.0},
      {"<think>\nabc</think><answer>42</answer>", 0.25},
      {"<think>\nabc\n</think>\n<answer>42</answer>", 0.5},
      {"<think>\nabc\n</think>\n<answer>\n42</answer>", 0.75},
      // A tag that occurs twice earns nothing.
      {"<think>\na\n</think>\n<think>\nb\n</think>\n<answer>\n42\n</answer>", 0.5},
      {"", 0.0},
  };
  for (const auto& [text, want] : cases) EXPECT_EQ(tag_count_reward(text), want) << text;
}

TEST(FormatRewards, InvalidUtf8NeverMatchesButDoesNotFail) {
  std::string text = "<think>\n\xff\xfe\n</think>\n<answer>\n42\n</answer>";
  // PCRE2 never matches invalid bytes; RewardFunction repairs them to U+FFFD
  // first (as Python's decode(errors="replace") would), see reward_spec_test.
  EXPECT_EQ(format_reward_strict(text), 0.0);
  EXPECT_EQ(format_reward_strict(utf8_lossy(text)), 1.0);
  EXPECT_EQ(format_reward_strict("\xff<think>\n"), 0.0);
}

TEST(FormatRewards, SkipLeadingSpace) {
  const std::string r1_zero = " <think>47 + 38 = 70 + 15 = 85</think> <answer>85</answer>";
  for (bool skip : {false, true}) {
    rapidjson::Document p;
    p.Parse(skip ? R"({"skip_leading_space": true})" : "{}");
    CheckerParams params(&p, "rewards[0].params");
    auto checker = value_or_throw(make_format_lenient_checker(params));
    RewardInput input;
    input.completion = r1_zero;
    EXPECT_EQ(value_or_throw(checker->score(input)).score, skip ? 1.0 : 0.0);
    input.completion = " \n ";
    EXPECT_EQ(value_or_throw(checker->score(input)).score, 0.0);
  }
}

TEST(FormatRewards, CheckersRejectParams) {
  rapidjson::Document p;
  p.Parse(R"({"x": 1})");
  CheckerParams params(&p, "rewards[0].params");
  auto made = make_format_strict_checker(params);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("unknown param 'x'"), std::string::npos) << made.status().message();
}

}  // namespace
}  // namespace r1
