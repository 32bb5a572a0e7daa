#include "reward/judge_verdict.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

// Outputs in the shapes judge models write (MT-Bench's "[[rating]]" format,
// yes/no rubric verdicts), and the ways they go wrong.
TEST(JudgeVerdict, ScoresFromWellFormedOutputs) {
  auto score = [](const char* out) { return parse_judge_verdict(out, VerdictKind::score, 10); };
  JudgeVerdict v = score("The assistant adds the numbers correctly and explains each step. Rating: [[8]]");
  EXPECT_EQ(v.status, "ok");
  EXPECT_EQ(v.value, 8);
  EXPECT_DOUBLE_EQ(v.reward, 0.8);
  // The format quoted first, the verdict last: the last one counts.
  v = score("I must answer as \"Rating: [[rating]]\", e.g. [[5]]. The answer is wrong in step 2.\n\nRating: [[2]]");
  EXPECT_EQ(v.status, "ok");
  EXPECT_DOUBLE_EQ(v.reward, 0.2);
  EXPECT_DOUBLE_EQ(score("[[ 9.5 ]]").reward, 0.95);
  EXPECT_DOUBLE_EQ(score("Rating: [[0]]").reward, 0.0);
  EXPECT_EQ(score("Rating: [[0]]").status, "ok");
}

TEST(JudgeVerdict, BinaryVerdicts) {
  auto binary = [](const char* out) { return parse_judge_verdict(out, VerdictKind::binary, 1); };
  EXPECT_EQ(binary("The final answer 42 matches the reference. Verdict: [[YES]]").reward, 1.0);
  EXPECT_EQ(binary("Verdict: [[no]]").reward, 0.0);
  EXPECT_EQ(binary("Verdict: [[no]]").status, "ok");
  EXPECT_EQ(
      binary("Answer with [[YES]] or [[NO]].\nThe student's answer is 17, the reference 71. [[INCORRECT]]").reward,
      0.0);
  EXPECT_EQ(binary("[[Correct]]").reward, 1.0);
}

TEST(JudgeVerdict, MalformedOutputsAreStatusesNotErrors) {
  auto score = [](const char* out) { return parse_judge_verdict(out, VerdictKind::score, 10); };
  for (const char* out : {"", "Rating: 8/10", "Rating: [8]", "Rating: [[eight]]", "Rating: [[8/10]]", "[[", "]]",
                          "]] then [[", "Rating: [[]]", "\xff\xfe [[\xc3"}) {
    JudgeVerdict v = score(out);
    EXPECT_EQ(v.status, "no_verdict") << out;
    EXPECT_EQ(v.reward, 0.0) << out;
  }
  JudgeVerdict v = score("Rating: [[11]]");
  EXPECT_EQ(v.status, "out_of_range");
  EXPECT_EQ(v.value, 11);
  EXPECT_EQ(v.reward, 0.0);
  EXPECT_EQ(score("Rating: [[-1]]").status, "out_of_range");
  EXPECT_EQ(parse_judge_verdict("Rating: [[7]]", VerdictKind::binary, 1).status, "no_verdict");
  EXPECT_EQ(parse_judge_verdict("[[MAYBE]]", VerdictKind::binary, 1).status, "no_verdict");
}

}  // namespace
}  // namespace r1
