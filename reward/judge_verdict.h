// Reading an LLM judge's verdict from its output text, the convention of
// "Judging LLM-as-a-Judge" (MT-Bench) and of most rubric prompts since: the
// verdict is written in double brackets, "Rating: [[7]]" or "[[YES]]". The
// last bracketed verdict counts (judges quote the format before they
// answer). A malformed output is a status, never an error.
#pragma once

#include <string>
#include <string_view>

namespace r1 {

enum class VerdictKind {
  score,   // [[N]], 0 <= N <= max_score; the reward is N / max_score
  binary,  // [[YES]] / [[NO]] (also CORRECT / INCORRECT), any case; 1 or 0
};

struct JudgeVerdict {
  // "ok", "no_verdict" (nothing bracketed of the kind) or "out_of_range"
  // (a score outside [0, max_score]).
  std::string status = "no_verdict";
  double value = 0;   // the score or 1/0 as written (when status is ok or out_of_range)
  double reward = 0;  // in [0, 1]; 0 unless ok
};

JudgeVerdict parse_judge_verdict(std::string_view output, VerdictKind kind, double max_score);

}  // namespace r1
