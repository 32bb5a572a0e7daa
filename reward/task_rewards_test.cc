#include "reward/task_rewards.h"

#include <gtest/gtest.h>

#include "reward/arith_eval.h"

namespace r1 {
namespace {

struct CountdownCase {
  const char* completion;
  std::vector<int64_t> numbers;
  double target;
  double want;
};

// Scores match TinyZero's countdown.compute_score on "Assistant:" + completion.
TEST(Countdown, TinyZeroRule) {
  const CountdownCase cases[] = {
      {"<think>try</think>\n<answer>(44 - 19) * 2 + 1</answer>", {44, 19, 2, 1}, 51, 1.0},
      {"<answer>44 + 19 + 2</answer>", {44, 19, 2}, 65, 1.0},
      // Wrong value but well formed: the format score.
      {"<answer>44 + 19 - 2</answer>", {44, 19, 2}, 65, 0.1},
      // A number used twice, or one left out: format score.
      {"<answer>44 + 19 + 2 + 2</answer>", {44, 19, 2}, 67, 0.1},
      {"<answer>44 + 21</answer>", {44, 19, 2}, 65, 0.1},
      // A number not given: format score.
      {"<answer>44 + 19 + 3 - 1</answer>", {44, 19, 2}, 65, 0.1},
      // Order of numbers does not matter.
      {"<answer>2 + 19 + 44</answer>", {44, 19, 2}, 65, 1.0},
      // No answer tag at all: 0.
      {"44 + 19 + 2 = 65", {44, 19, 2}, 65, 0.0},
      // Only the final line is searched: an answer on an earlier line is ignored.
      {"<answer>44 + 19 + 2</answer>\nThat is it.", {44, 19, 2}, 65, 0.0},
      // ... so a trailing newline hides the answer, as in TinyZero.
      {"<answer>44 + 19 + 2</answer>\n", {44, 19, 2}, 65, 0.0},
      // ... and the R1 multi-line answer block is never found.
      {"<answer>\n44 + 19 + 2\n</answer>", {44, 19, 2}, 65, 0.0},
      // The last <answer> on the final line wins.
      {"<answer>44 + 19 + 2</answer> or <answer>44 - 19 - 2</answer>", {44, 19, 2}, 65, 0.1},
      {"<answer>44 - 19 - 2</answer> no, <answer>44 + 19 + 2</answer>", {44, 19, 2}, 65, 1.0},
      // Division within 1e-5 of the target.
      {"<answer>(1 + 2) / 3 * 7</answer>", {1, 2, 3, 7}, 7, 1.0},
      {"<answer>10 / 3</answer>", {10, 3}, 3.333333, 1.0},
      {"<answer>10 / 3</answer>", {10, 3}, 3.3333, 0.1},
      // Division by zero, disallowed characters, Python-only operators: format score.
      {"<answer>5 / (3 - 3)</answer>", {5, 3, 3}, 1, 0.1},
      {"<answer>44 + 19 + 2 = 65</answer>", {44, 19, 2}, 65, 0.1},
      {"<answer>2 ** 3</answer>", {2, 3}, 8, 0.1},
      {"<answer>x</answer>", {1}, 1, 0.1},
      // An empty answer is still an answer.
      {"<answer></answer>", {1}, 1, 0.1},
      // Unary minus is valid Python.
      {"<answer>-(1 - 5) * 2</answer>", {1, 5, 2}, 8, 1.0},
  };
  for (const auto& c : cases)
    EXPECT_DOUBLE_EQ(score_countdown(c.completion, c.numbers, c.target, {}).score, c.want) << c.completion;
}

TEST(Countdown, CustomScores) {
  CountdownOptions o{0.0, 2.0};
  EXPECT_EQ(score_countdown("<answer>1 + 2</answer>", {1, 2}, 3, o).score, 2.0);
  EXPECT_EQ(score_countdown("<answer>1 + 2</answer>", {1, 2}, 4, o).score, 0.0);
}

TEST(ArithEval, Values) {
  const std::pair<const char*, double> ok[] = {
      {"1 + 2 * 3", 7},   {"(1 + 2) * 3", 9}, {"8 / 4 / 2", 1},     {"8 - 4 - 2", 2}, {"--3", 3},
      {"+-3", -3},        {"1.5 * 2", 3},     {"3. + .5", 3.5},     {"00 + 1", 1},    {" ( ( 2 ) ) ", 2},
      {"7 / 2", 3.5},     {"-2 * -2", 4},     {"1 - -1", 2},        {"0.1 + 0.2", 0.30000000000000004},
  };
  for (const auto& [expr, want] : ok) {
    auto v = evaluate_arithmetic(expr);
    ASSERT_TRUE(v.ok()) << expr << ": " << v.status().message();
    EXPECT_EQ(*v, want) << expr;
  }
  const char* bad[] = {"", "1 +", "(1 + 2", "1 + 2)", "1 2", "2(3)", "2 ** 3", "7 // 2", "1 / 0", "1 / (2 - 2)",
                       "01", "1.2.3", ".", "()", "a", "1e5"};
  for (const char* expr : bad) EXPECT_FALSE(evaluate_arithmetic(expr).ok()) << expr;
  EXPECT_FALSE(evaluate_arithmetic(std::string(500, '(') + "1" + std::string(500, ')')).ok());
}

TEST(Gsm8k, StrictExtraction) {
  const std::pair<const char*, std::optional<std::string>> cases[] = {
      {"so #### 72", "72"},
      {"#### 1,234", "1234"},
      {"#### $18", "18"},
      {"#### -5", "-5"},
      {"####72", std::nullopt},      // strict: a space is required
      {"The answer is 72", std::nullopt},
      {"#### 3\nthen #### 4", "4"},  // the last one counts
      {"#### 2.50 dollars", "2.50"},
  };
  for (const auto& [text, want] : cases) EXPECT_EQ(extract_gsm8k_answer(text), want) << text;
}

TEST(Gsm8k, Scores) {
  const std::string gold = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72";
  const std::tuple<const char*, std::string, double> cases[] = {
      {"reasoning... #### 72", gold, 1.0},
      {"#### 72.0", gold, 1.0},  // compared as numbers
      {"#### 72.", gold, 1.0},
      {"#### 71", gold, 0.0},
      {"The answer is 72", gold, 0.0},
      {"#### 1,000", "1000", 1.0},
      {"#### $1,000", "#### 1,000", 1.0},
      {"#### 1.2.3", "1", 0.0},
  };
  for (const auto& [text, g, want] : cases) {
    auto s = score_gsm8k(text, g, {});
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_EQ(*s, want) << text;
  }
  // format_score applies whenever "#### N" is present but wrong.
  EXPECT_EQ(*score_gsm8k("#### 71", "72", {0.25, 1.0}), 0.25);
  EXPECT_EQ(*score_gsm8k("#### 1.2.3", "72", {0.25, 1.0}), 0.25);
  EXPECT_EQ(*score_gsm8k("no answer", "72", {0.25, 1.0}), 0.0);
  EXPECT_FALSE(score_gsm8k("#### 72", "seventy-two", {}).ok());
}

TEST(TaskCheckers, MissingReferenceFieldIsAnError) {
  rapidjson::Document row;
  row.Parse(R"({"numbers": [1, 2]})");
  CheckerParams params(nullptr, "rewards[0].params");
  auto checker = make_countdown_checker(params);
  ASSERT_TRUE(checker.ok());
  RewardInput in{"<answer>1+2</answer>", std::nullopt, std::nullopt, &row, "rows.jsonl:4"};
  auto s = (*checker)->score(in);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "rows.jsonl:4: field 'target' is missing");
  row.Parse(R"({"numbers": [1, 2], "target": 3})");
  s = (*checker)->score(in);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->score, 1.0);
  EXPECT_EQ(s->details, R"({"equation":"1+2","numbers_ok":true,"value":3.0})");
}

TEST(TaskCheckers, Gsm8kAnswerField) {
  rapidjson::Document row;
  row.Parse(R"({"final": 12})");
  rapidjson::Document p;
  p.Parse(R"({"answer_field": "final"})");
  CheckerParams params(&p, "rewards[0].params");
  auto checker = make_gsm8k_checker(params);
  ASSERT_TRUE(checker.ok());
  RewardInput in{"#### 12", std::nullopt, std::nullopt, &row, "r:1"};
  EXPECT_EQ((*checker)->score(in)->score, 1.0);
  row.Parse(R"({"final": "twelve"})");
  auto s = (*checker)->score(in);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("r:1: field 'final'"), std::string::npos) << s.status().message();
}

}  // namespace
}  // namespace r1
