#include "eval/eval_metrics.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace r1 {
namespace {

SampleOutcome s(const char* answer, bool correct) {
  SampleOutcome o;
  if (answer) o.answer = answer;
  o.correct = correct;
  return o;
}

// Exact binomial coefficient for the small n used here.
uint64_t choose(int64_t n, int64_t k) {
  if (k < 0 || k > n) return 0;
  uint64_t r = 1;
  for (int64_t i = 1; i <= k; ++i) r = r * static_cast<uint64_t>(n - k + i) / static_cast<uint64_t>(i);
  return r;
}

TEST(PassAtK, HandComputedCases) {
  EXPECT_DOUBLE_EQ(pass_at_k(5, 2, 1), 0.4);         // c / n
  EXPECT_DOUBLE_EQ(pass_at_k(5, 2, 2), 0.7);         // 1 - C(3,2)/C(5,2) = 1 - 3/10
  EXPECT_DOUBLE_EQ(pass_at_k(5, 2, 4), 1.0);         // n - c < k: some draw must hit
  EXPECT_NEAR(pass_at_k(10, 3, 5), 11.0 / 12.0, 1e-12);  // 1 - C(7,5)/C(10,5) = 1 - 21/252
  EXPECT_DOUBLE_EQ(pass_at_k(4, 0, 4), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 4, 1), 1.0);
  EXPECT_DOUBLE_EQ(pass_at_k(4, 1, 4), 1.0);         // k = n: any sample passes
}

TEST(PassAtK, EqualsTheBinomialFormula) {
  for (int64_t n = 1; n <= 16; ++n)
    for (int64_t c = 0; c <= n; ++c)
      for (int64_t k = 1; k <= n; ++k) {
        double expected = 1.0 - static_cast<double>(choose(n - c, k)) / static_cast<double>(choose(n, k));
        EXPECT_NEAR(pass_at_k(n, c, k), expected, 1e-12) << "n=" << n << " c=" << c << " k=" << k;
      }
}

TEST(MajorityVote, TheMostCommonAnswerWins) {
  Vote v = majority_vote({s("1", true), s("2", false), s("2", false)});
  ASSERT_TRUE(v.answer);
  EXPECT_EQ(*v.answer, "2");
  EXPECT_EQ(v.count, 2);
  EXPECT_FALSE(v.correct);
}

TEST(MajorityVote, TiesGoToTheAnswerSeenFirst) {
  Vote a = majority_vote({s("A", false), s("B", true), s("B", true), s("A", false)});
  EXPECT_EQ(*a.answer, "A");
  EXPECT_EQ(a.count, 2);
  EXPECT_FALSE(a.correct);
  Vote b = majority_vote({s("B", true), s("A", false), s("A", false), s("B", true)});
  EXPECT_EQ(*b.answer, "B");
  EXPECT_TRUE(b.correct);
}

TEST(MajorityVote, SamplesWithoutAnAnswerDoNotVote) {
  Vote v = majority_vote({s(nullptr, false), s(nullptr, false), s("7", true)});
  EXPECT_EQ(*v.answer, "7");
  EXPECT_EQ(v.count, 1);
  EXPECT_TRUE(v.correct);
  Vote none = majority_vote({s(nullptr, false), s(nullptr, false)});
  EXPECT_FALSE(none.answer);
  EXPECT_EQ(none.count, 0);
  EXPECT_FALSE(none.correct);
}

TEST(MajorityVote, TheWinnersFirstSampleDecidesCorrectness) {
  EXPECT_TRUE(majority_vote({s("x", false), s("y", true), s("y", false)}).correct);
  EXPECT_FALSE(majority_vote({s("y", false), s("y", true)}).correct);
}

TEST(ComputeMetrics, HandComputedThreeExamples) {
  std::vector<std::vector<SampleOutcome>> examples = {
      {s("1", true), s("2", false), s("1", true), s("3", false)},        // c=2: 0.5, votes 1 (right)
      {s("5", false), s("5", false), s("7", true), s(nullptr, false)},   // c=1: 0.25, votes 5 (wrong)
      {s(nullptr, false), s(nullptr, false), s(nullptr, false), s(nullptr, false)},  // nothing
  };
  EvalMetrics m = value_or_throw(compute_metrics(examples, true));
  EXPECT_EQ(m.examples, 3);
  EXPECT_EQ(m.k, 4);
  EXPECT_DOUBLE_EQ(m.pass_at_1, 0.25);  // (0.5 + 0.25 + 0) / 3
  EXPECT_DOUBLE_EQ(m.pass_at_k, 2.0 / 3.0);
  ASSERT_TRUE(m.maj_at_k);
  EXPECT_DOUBLE_EQ(*m.maj_at_k, 1.0 / 3.0);

  EvalMetrics no_vote = value_or_throw(compute_metrics(examples, false));
  EXPECT_FALSE(no_vote.maj_at_k);
  EXPECT_DOUBLE_EQ(no_vote.pass_at_1, 0.25);
}

TEST(ComputeMetrics, OneSampleMakesAllThreeEqual) {
  std::vector<std::vector<SampleOutcome>> examples = {
      {s("3", true)}, {s("4", false)}, {s(nullptr, false)}, {s("9", true)}};
  EvalMetrics m = value_or_throw(compute_metrics(examples, true));
  EXPECT_DOUBLE_EQ(m.pass_at_1, 0.5);
  EXPECT_DOUBLE_EQ(m.pass_at_k, 0.5);
  EXPECT_DOUBLE_EQ(*m.maj_at_k, 0.5);
}

TEST(ComputeMetrics, RejectsRaggedOrEmptyInput) {
  Result<EvalMetrics> ragged = compute_metrics({{s("1", true), s("1", true)}, {s("1", true)}}, true);
  ASSERT_FALSE(ragged.ok());
  EXPECT_NE(ragged.status().message().find("example 1 has 1 samples"), std::string::npos);
  EXPECT_FALSE(compute_metrics({}, true).ok());
}

TEST(AnswerKey, NormalisesSpacingAndFormatting) {
  EXPECT_EQ(answer_key(" \\frac{1}{2} "), answer_key("\\frac{1}{2}"));
  EXPECT_EQ(answer_key("(44 - 19) * 2 + 1"), std::optional<std::string>("(44-19)*2+1"));
  EXPECT_EQ(answer_key("$72$"), answer_key("72"));
  EXPECT_NE(answer_key("72"), answer_key("27"));
  EXPECT_FALSE(answer_key(""));
  EXPECT_FALSE(answer_key("  "));
}

TEST(AnswerFromDetails, ReadsTheCheckersAnswerFields) {
  bool has = false;
  EXPECT_EQ(answer_from_details(R"({"extracted": "72", "reason": "equal"})", &has), std::optional<std::string>("72"));
  EXPECT_TRUE(has);
  EXPECT_FALSE(answer_from_details(R"({"extracted": "", "reason": "no answer"})", &has));
  EXPECT_TRUE(has);
  EXPECT_FALSE(answer_from_details(R"({"equation": null, "numbers_ok": false, "value": null})", &has));
  EXPECT_TRUE(has);
  EXPECT_EQ(answer_from_details(R"({"equation": "3 + 4", "numbers_ok": true})", &has),
            std::optional<std::string>("3+4"));
  EXPECT_FALSE(answer_from_details(R"({"passed": 1, "total": 2, "tests": []})", &has));
  EXPECT_FALSE(has);  // code: nothing to vote on
}

}  // namespace
}  // namespace r1
