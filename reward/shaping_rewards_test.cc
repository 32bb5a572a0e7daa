#include "reward/shaping_rewards.h"

#include <gtest/gtest.h>

#include <cmath>

namespace r1 {
namespace {

TEST(Overlong, BoundaryValues) {
  OverlongOptions o{100, 20, 1.0};
  const std::pair<int64_t, double> cases[] = {
      {0, 0.0}, {80, 0.0}, {81, -0.05}, {90, -0.5}, {100, -1.0}, {101, -1.0}, {5000, -1.0},
  };
  for (const auto& [len, want] : cases) EXPECT_DOUBLE_EQ(overlong_penalty(len, o), want) << len;
  o.penalty_factor = 0.5;
  EXPECT_DOUBLE_EQ(overlong_penalty(90, o), -0.25);
  EXPECT_DOUBLE_EQ(overlong_penalty(200, o), -0.5);
}

TEST(Cosine, EndpointsAndMidpoint) {
  CosineOptions o;  // open-r1 defaults, max_len 1000
  EXPECT_DOUBLE_EQ(cosine_scaled_reward(true, 0, o), 1.0);
  EXPECT_DOUBLE_EQ(cosine_scaled_reward(true, 1000, o), 0.5);
  EXPECT_DOUBLE_EQ(cosine_scaled_reward(true, 500, o), 0.75);
  EXPECT_DOUBLE_EQ(cosine_scaled_reward(false, 0, o), -1.0);
  EXPECT_DOUBLE_EQ(cosine_scaled_reward(false, 1000, o), -0.5);
  EXPECT_DOUBLE_EQ(cosine_scaled_reward(false, 500, o), -0.75);
  // Not clamped past max_len, as in open-r1: the cosine turns back up.
  EXPECT_NEAR(cosine_scaled_reward(true, 1500, o), 0.75, 1e-12);
  EXPECT_NEAR(cosine_scaled_reward(true, 2000, o), 1.0, 1e-12);
  o.clip_progress = true;  // TRL's variant stays at the long-length bound
  EXPECT_DOUBLE_EQ(cosine_scaled_reward(true, 1500, o), 0.5);
  EXPECT_DOUBLE_EQ(cosine_scaled_reward(false, 2000, o), -0.5);
}

TEST(Repetition, Values) {
  // 6 words -> 4 trigrams (abc, bca, cab, abc), 3 distinct after lowercasing.
  EXPECT_DOUBLE_EQ(repetition_penalty("a b c A B C", 3, -1.0), -(1.0 - 3.0 / 4.0));
  EXPECT_DOUBLE_EQ(repetition_penalty("a b a b a b", 3, -1.0), -(1.0 - 2.0 / 4.0));
  EXPECT_DOUBLE_EQ(repetition_penalty("the the the the the", 2, -0.5), -0.5 * (1.0 - 1.0 / 4.0));
  EXPECT_DOUBLE_EQ(repetition_penalty("one two three four", 3, -1.0), 0.0);
  EXPECT_FALSE(std::signbit(repetition_penalty("one two three four", 3, -1.0)));  // +0.0, prints as 0.0
  EXPECT_DOUBLE_EQ(repetition_penalty("one two", 3, -1.0), 0.0);  // fewer words than n
  EXPECT_DOUBLE_EQ(repetition_penalty("", 3, -1.0), 0.0);
  // Any Unicode whitespace separates words; case folding is Unicode.
  EXPECT_DOUBLE_EQ(repetition_penalty("Äb\u3000äB\näb", 1, -1.0), -(1.0 - 1.0 / 3.0));
}

TEST(ShapingCheckers, ParamErrors) {
  rapidjson::Document p;
  p.Parse(R"({"max_completion_length": 100})");
  CheckerParams a(&p, "rewards[0].params");
  auto made = make_overlong_checker(a);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().message(), "rewards[0].params: field 'overlong_buffer' is missing");
  p.Parse(R"({"ngram_size": 3, "max_penalty": 1})");
  CheckerParams b(&p, "rewards[1].params");
  EXPECT_FALSE(make_repetition_checker(b).ok());
  p.Parse(R"({"ngram_size": "3"})");
  CheckerParams c(&p, "rewards[1].params");
  made = make_repetition_checker(c);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().message(), "rewards[1].params: field 'ngram_size' must be an integer");
}

TEST(ShapingCheckers, OverlongNeedsTokenCount) {
  rapidjson::Document p;
  p.Parse(R"({"max_completion_length": 100, "overlong_buffer": 20})");
  CheckerParams params(&p, "p");
  auto checker = make_overlong_checker(params);
  ASSERT_TRUE(checker.ok());
  RewardInput in;
  in.completion = "text";
  in.where = "rows.jsonl:2";
  auto s = (*checker)->score(in);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("rows.jsonl:2: field 'num_tokens' is missing"), std::string::npos);
  in.num_tokens = 90;
  EXPECT_DOUBLE_EQ((*checker)->score(in)->score, -0.5);
}

}  // namespace
}  // namespace r1
