// Finds the final answer in a model completion. Order (first hit wins):
//   1. the last <answer>...</answer> block (a \boxed{} inside it is preferred),
//   2. the last \boxed{...} / \fbox{...} (nested braces kept whole),
//   3. the last GSM8K-style "#### N" line,
//   4. the last "final answer is ..." / "final answer: ..." phrase,
//   5. optionally, the last number in the text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace r1 {

std::optional<std::string> extract_answer(std::string_view completion, bool last_number_fallback);

// Content of the last well-formed \boxed{} or \fbox{}; nullopt if none.
std::optional<std::string> last_boxed(std::string_view text);

// The last number ("-1,234.5", "3/4") in the text; nullopt if none.
std::optional<std::string> last_number(std::string_view text);

}  // namespace r1
