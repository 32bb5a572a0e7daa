// The "math" and "code" spec checkers, which wrap the maths answer checker
// and the sandboxed code checker.
#include <gtest/gtest.h>

#include "reward/code_reward.h"
#include "reward/reward_spec.h"

namespace r1 {
namespace {

Result<RewardFunction> from_text(const std::string& text) { return RewardFunction::from_text(text, "spec.json"); }

TEST(MathReward, ScoresAgainstTheRowAnswer) {
  auto fn = from_text(R"([{"checker": "math"},
                          {"checker": "cosine", "params": {"correctness": "math", "max_len": 100}}])");
  ASSERT_TRUE(fn.ok()) << fn.status().message();
  rapidjson::Document row;
  row.Parse(R"({"answer": "\\frac{1}{2}"})");
  RewardInput in;
  in.reference = &row;
  const std::pair<const char*, double> cases[] = {
      {"so the answer is \\boxed{\\frac12}", 1.0},
      {"so the answer is \\boxed{0.5}", 1.0},
      {"so the answer is \\boxed{\\frac13}", 0.0},
  };
  for (const auto& [text, want] : cases) {
    in.completion = text;
    auto r = fn->score(in);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->components[0].score, want) << text << " " << r->components[0].details;
    EXPECT_EQ(r->components[1].score > 0, want > 0) << "cosine follows the math verdict";
  }
  row.Parse(R"({"question": "q"})");
  in.where = "rows.jsonl:5";
  auto r = fn->score(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "rows.jsonl:5: field 'answer' is missing");
}

TEST(CodeReward, ExtractsTheLastPythonBlock) {
  EXPECT_EQ(extract_python_block("a\n```python\nx = 1\n```\nb\n```python\ny = 2\n```"), "y = 2\n");
  EXPECT_EQ(extract_python_block("```py\nx\n```"), "");
  EXPECT_EQ(extract_python_block("no code"), "");
}

TEST(CodeReward, RunsTheRowTestsInTheSandbox) {
  auto fn = from_text(R"([{"checker": "code", "params": {"timeout_s": 10}}])");
  ASSERT_TRUE(fn.ok()) << fn.status().message();
  rapidjson::Document row;
  row.Parse(R"({"tests": {"io": [{"input": "2 3\n", "output": "5\n"}, {"input": "1 1\n", "output": "2\n"}],
                          "asserts": ["assert add(2, 2) == 4"]}})");
  RewardInput in;
  in.reference = &row;
  in.completion =
      "Here:\n```python\nimport sys\ndef add(a, b):\n    return a + b\n"
      "if __name__ == '__main__':\n    a, b = map(int, sys.stdin.read().split())\n    print(add(a, b))\n```";
  auto r = fn->score(in);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->total, 1.0) << r->components[0].details;
  EXPECT_NE(r->components[0].details.find("\"passed\":3"), std::string::npos) << r->components[0].details;
  // Wrong for the second case only: partial credit, per-test statuses kept.
  in.completion = "```python\nimport sys\na, b = map(int, sys.stdin.read().split())\nprint(5)\n```";
  r = fn->score(in);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_NEAR(r->total, 1.0 / 3.0, 1e-12) << r->components[0].details;
  EXPECT_NE(r->components[0].details.find("wrong_answer"), std::string::npos) << r->components[0].details;
  row.Parse(R"({"question": "q"})");
  EXPECT_FALSE(fn->score(in).ok());
}

}  // namespace
}  // namespace r1
