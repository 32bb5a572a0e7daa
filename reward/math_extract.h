// Finds the final answer in a model completion. The candidates, in the
// priority order written down in docs/math_checker.md ("Extraction"):
//   1. the last <answer>...</answer> block: a \boxed{} or "#### N" inside it,
//      its whole text, then what steps 4-6 find inside it;
//   2. the last \boxed{...} / \fbox{...} (nested braces kept whole);
//   3. the last GSM8K-style "#### N" line;
//   4. the last "final answer" phrase: what follows it, or follows its "is";
//   5. the last "answer:" / "answer is" phrases: the maths after the last '='
//      on the line, else the first LaTeX environment or plain number after
//      the word;
//   6. the last LaTeX math environment ($..$, $$..$$, \(..\), \[..\], display
//      ones across lines) and, when `last_number_fallback` is on, the last
//      plain expression or number: whichever ends later comes first.
// The checker takes the first candidate that parses, as math-verify takes
// its first match that converts.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

struct ExtractOptions {
  // Take plain-text expressions and numbers ("so she has 12 apples") in
  // step 6; without them, a completion with no tag, box, phrase or LaTeX
  // has no answer.
  bool last_number_fallback = true;
  // In plain text (never inside LaTeX, where "2,5" is a list): a comma
  // followed by other than exactly three digits, or after a lone 0, is a
  // decimal comma ("2,74" = 2.74, "0,125" = 0.125); "1,000" stays a thousand.
  bool decimal_comma = true;
};

std::vector<std::string> answer_candidates(std::string_view completion, const ExtractOptions& options);

// The first candidate, or nullopt when there is none.
std::optional<std::string> extract_answer(std::string_view completion, const ExtractOptions& options);

// Content of the last well-formed \boxed{} or \fbox{}; nullopt if none.
std::optional<std::string> last_boxed(std::string_view text);

}  // namespace r1
