// Rule-based checker for maths answers: extracts the final answer from a
// completion and decides whether it equals the gold answer. Thread-safe:
// callable from many threads at once (GiNaC calls are serialised inside).
// The rules, including how gold and prediction are treated differently, are
// in docs/math_checker.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "reward/math_cas.h"
#include "reward/math_eval.h"
#include "reward/math_extract.h"

namespace r1 {

struct MathOptions {
  // Where answers are found in completions: the plain-number fallback and the
  // decimal-comma rule (reward/math_extract.h).
  ExtractOptions extract;
  // An inequality matches the interval it describes ("x \le 5" and
  // "(-\infty, 5]") in both directions; off (as math-verify's option of the
  // same name), only a gold inequality accepts a predicted interval, so a
  // policy cannot pass by restating a gold interval's defining inequality.
  bool allow_set_relation_comp = false;
  // When either side contains a decimal literal ("0.333333" vs "\frac13"),
  // values are equal when |a-b| <= rel_tolerance * max(|a|,|b|) AND |a-b| is
  // at most half a unit in the last decimal place written. 1e-6 rather than
  // a looser 1e-4 so that "0.3333" is not 1/3; the place rule keeps
  // "1450001.0" != 1450000. Integers and fractions compare exactly.
  double rel_tolerance = 1e-6;
  // Relative tolerance for exact-looking values that can only be compared in
  // floating point (roots, pi, trigonometry, random-point checks).
  double float_noise_tolerance = 1e-9;
  // Whole-check budget; exceeded checks are judged wrong with timed_out set.
  int64_t timeout_ms = 2000;
  // Answers longer than this (after extraction) are judged wrong unparsed.
  size_t max_answer_chars = 2000;
  // Points at which expressions with variables are compared numerically
  // when the CAS cannot decide.
  int random_points = 6;
  CasLimits cas;
  EvalLimits eval;
};

struct MathVerdict {
  bool correct = false;
  std::string extracted;  // the prediction's answer as found in the completion
  std::string reason;     // why: "equal", "not equal", "no answer found", parse errors
  bool timed_out = false;
};

// Extracts the answer from `completion`, then compares it with `gold`. A gold
// string that holds "\boxed{}" or "####" is extracted the same way.
MathVerdict check_math_answer(std::string_view completion, std::string_view gold, const MathOptions& options);

// Both sides already extracted.
MathVerdict compare_math_answers(std::string_view gold_answer, std::string_view predicted_answer,
                                 const MathOptions& options);
bool math_answers_equal(std::string_view gold_answer, std::string_view predicted_answer, const MathOptions& options);

}  // namespace r1
