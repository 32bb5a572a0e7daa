// Fuzz test of the maths checker and the reward function that wraps it:
// random and adversarial byte strings (broken UTF-8, deep nesting, unclosed
// environments, huge numbers) as completions and gold answers. Every call
// must return (a hang trips CTest's TIMEOUT for this test), and every JSON
// line the CLIs would write for the verdict must be valid UTF-8 that parses.
// R1_FUZZ_SCALE multiplies the number of cases (the `slow` variant).
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "reward/math_ast.h"
#include "reward/math_checker.h"
#include "reward/math_normalize.h"
#include "reward/reward_spec.h"
#include "util/json.h"
#include "util/utf8.h"

namespace r1 {
namespace {

int scale() {
  const char* s = std::getenv("R1_FUZZ_SCALE");
  int n = s ? std::atoi(s) : 1;
  return n > 0 ? n : 1;
}

// Pieces that have broken parsers and extractors before, or could: broken and
// multi-byte UTF-8, delimiters without partners, nesting, huge values.
const std::vector<std::string>& adversarial_pieces() {
  static const std::vector<std::string> pieces = {
      "\xff", "\xc3", "\xe2\x82", "\xe2\x82\xac", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", std::string(1, '\0'),
      "m\xc2\xb2", "\xe2\x88\x91", "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\boxed{", "\\boxed", "}", "{", "\\{",
      "\\frac", "\\frac{", "\\sqrt[", "\\begin{pmatrix}", "\\begin{array}{cc}", "\\end{array}", "&", "\\\\", "\\left[",
      "\\right]", "<answer>", "</answer>", "####", "final answer is ", "Answer: ", "the answer is", " and ", " or ",
      "1,000", "1 000", "2,74", "0,", ".5", "-", "+", "^", "^^", "10^10^10", "9999999999999999999999", "1000!", "%",
      "percent", "\\approx", "\\le", "<", ">=", "!=", "=", "x", "(", ")", "[", "]", "\\infty", "\\pm", "\\cup", ",",
      " ", "\n", "\\text{", "\\mbox{ cm}^", "€", "**", "1e999999", "((((((((((", "))))))))))", "x_", "_{", "\\\\\\\\"};
  return pieces;
}

std::string random_text(std::mt19937& rng, size_t max_pieces) {
  const auto& pieces = adversarial_pieces();
  std::string s;
  size_t n = rng() % (max_pieces + 1);
  for (size_t i = 0; i < n; ++i) {
    if (rng() % 4 == 0) {
      s += static_cast<char>(rng() % 256);  // any byte at all
    } else if (rng() % 3 == 0) {
      s += std::to_string(rng() % 100000);
    } else {
      s += pieces[rng() % pieces.size()];
    }
  }
  return s;
}

// Repeats of one piece: the inputs that expose quadratic scans or recursion.
std::vector<std::string> pathological_texts() {
  std::vector<std::string> out;
  for (const std::string& piece : adversarial_pieces()) {
    std::string s;
    while (s.size() < 20000) s += piece;
    out.push_back(s);
  }
  return out;
}

void expect_valid_json_line(const std::string& line) {
  ASSERT_TRUE(utf8_valid(line)) << line.substr(0, 200);
  EXPECT_TRUE(parse_json(line, "fuzz").ok()) << line.substr(0, 200);
}

// What `r1 math-check` writes for one verdict.
std::string verdict_line(const MathVerdict& v) {
  JsonWriter w;
  w.begin_object().key("correct").value(v.correct).key("extracted").value(v.extracted).key("reason").value(v.reason);
  w.key("timed_out").value(v.timed_out).end_object();
  return w.str();
}

MathOptions fuzz_options() {
  MathOptions o;
  o.timeout_ms = 200;
  return o;
}

void check_pair(const std::string& completion, const std::string& gold, const MathOptions& o) {
  MathVerdict v = check_math_answer(completion, gold, o);
  expect_valid_json_line(verdict_line(v));
  expect_valid_json_line(verdict_line(compare_math_answers(gold, completion, o)));
  (void)parse_answer(normalize_answer(completion), {o.max_answer_chars, 100});
}

TEST(MathFuzz, RandomAndAdversarialPairs) {
  std::mt19937 rng(12);
  MathOptions o = fuzz_options();
  for (int i = 0; i < 20000 * scale(); ++i) check_pair(random_text(rng, 30), random_text(rng, 8), o);
}

TEST(MathFuzz, PathologicalRepeats) {
  MathOptions o = fuzz_options();
  for (const std::string& text : pathological_texts()) check_pair(text, "\\boxed{" + text.substr(0, 300) + "}", o);
}

// The reward function as `r1 reward score` runs it: a math component and a
// format component over a row whose gold, too, holds broken bytes.
TEST(MathFuzz, RewardFunctionOutputIsValidUtf8Json) {
  auto fn = RewardFunction::from_text(
      R"([{"checker": "math", "params": {"timeout_ms": 200}}, {"checker": "format_lenient"}])", "spec.json");
  ASSERT_TRUE(fn.ok()) << fn.status().message();
  std::mt19937 rng(34);
  for (int i = 0; i < 5000 * scale(); ++i) {
    rapidjson::Document row;
    row.SetObject();
    std::string gold = random_text(rng, 6);
    row.AddMember("answer", rapidjson::Value(gold.c_str(), static_cast<rapidjson::SizeType>(gold.size()),
                                             row.GetAllocator()),
                  row.GetAllocator());
    RewardInput in;
    in.completion = random_text(rng, 40);
    in.reference = &row;
    in.where = "fuzz.jsonl:" + std::to_string(i + 1);
    auto r = fn->score(in);
    ASSERT_TRUE(r.ok()) << r.status().message();
    expect_valid_json_line(r->to_json());
  }
}

}  // namespace
}  // namespace r1
