#include "reward/math_checker.h"

#include <algorithm>
#include <cctype>

#include "reward/math_ast.h"
#include "reward/math_equivalence.h"
#include "reward/math_extract.h"
#include "reward/math_normalize.h"

namespace r1 {
namespace {

// Collapses runs of blanks; "2 6" stays apart from "26".
std::string single_spaced(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool blank = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (blank && (out.empty() || out.back() == ' ')) continue;
    out += blank ? ' ' : c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace

MathVerdict compare_math_answers(std::string_view gold_answer, std::string_view predicted_answer,
                                 const MathOptions& options) {
  Deadline deadline(options.timeout_ms);
  MathVerdict v;
  v.extracted = std::string(predicted_answer);
  ParseLimits limits{options.max_answer_chars, 100};
  if (gold_answer.size() > options.max_answer_chars || predicted_answer.size() > options.max_answer_chars) {
    v.reason = "answer longer than max_answer_chars";
    return v;
  }
  std::string gold = normalize_answer(gold_answer);
  std::string pred = normalize_answer(predicted_answer);
  if (!gold.empty() && single_spaced(gold) == single_spaced(pred)) {
    v.correct = true;
    v.reason = "equal after normalisation";
    return v;
  }
  auto g = parse_answer(gold, limits);
  if (!g.ok()) {
    v.reason = "gold: " + g.status().message();
    return v;
  }
  auto p = parse_answer(pred, limits);
  if (!p.ok()) {
    v.reason = "prediction: " + p.status().message();
    return v;
  }
  CompareContext ctx{options, deadline};
  v.correct = answers_equal(**g, **p, ctx) && !ctx.timed_out;
  v.timed_out = ctx.timed_out;
  v.reason = v.timed_out ? "timed out" : v.correct ? "equal" : "not equal";
  return v;
}

bool math_answers_equal(std::string_view gold_answer, std::string_view predicted_answer, const MathOptions& options) {
  return compare_math_answers(gold_answer, predicted_answer, options).correct;
}

// Whether an extracted answer parses: the first candidate that does is the
// answer, as math-verify takes its first match that converts.
bool parses(const std::string& answer, const MathOptions& options) {
  if (answer.size() > options.max_answer_chars) return false;
  return parse_answer(normalize_answer(answer), {options.max_answer_chars, 100}).ok();
}

MathVerdict check_math_answer(std::string_view completion, std::string_view gold, const MathOptions& options) {
  std::vector<std::string> candidates = answer_candidates(completion, options.extract);
  if (candidates.empty()) {
    MathVerdict v;
    v.reason = "no answer found";
    return v;
  }
  auto chosen =
      std::find_if(candidates.begin(), candidates.end(), [&](const std::string& c) { return parses(c, options); });
  if (chosen == candidates.end()) chosen = candidates.begin();  // its parse error is the reason
  std::string gold_answer(gold);
  if (gold.find("\\boxed") != std::string_view::npos || gold.find("####") != std::string_view::npos) {
    ExtractOptions no_fallback = options.extract;
    no_fallback.last_number_fallback = false;
    if (auto g = extract_answer(gold, no_fallback)) gold_answer = *g;
  }
  return compare_math_answers(gold_answer, *chosen, options);
}

}  // namespace r1
