// Finds answer-shaped spans in free text: LaTeX math environments and plain
// numbers or arithmetic expressions ("1,000.99€", "3/4", "45%"). Each span
// records where it ends, because the extractor prefers what ends last. Both
// scans are linear in the text length, whatever the input.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

struct TextSpan {
  std::string text;  // the content (math), or the canonical expression (plain)
  size_t begin = 0;  // offset of the span's first byte in the scanned text
  size_t end = 0;    // offset just past the span
};

// The contents of $..$, $$..$$, \(..\) and \[..\] environments, last first, at
// most `limit`. Display forms may span lines; inline forms may not. A '$' right
// after a digit opens nothing ("5$"), and an inline '$' pair around prose
// ("$18 per day. So she makes $") is money, not maths, and is skipped.
// Environments joined by ",", "and" or "or" ("$2$ and $3$") are one span "2, 3".
std::vector<TextSpan> math_environments(std::string_view text, size_t limit);

// Two words of two or more letters in a row, outside \text{} groups and
// command names: "18 per day. So she makes", "20 gallons of tea".
bool looks_like_prose(std::string_view s);

struct PlainNumberRules {
  // A comma followed by other than exactly three digits ("2,74", "1000,99"),
  // or after a lone 0 ("0,5"), is a decimal comma; otherwise a comma between
  // digit groups is a thousands separator ("1,000").
  bool decimal_comma = true;
};

// The last plain number or arithmetic expression of `text`, with thousands
// separators (',' or ' ') removed and decimal commas turned into points:
// "so 1 000,5 € in total" -> "1000.5". A number glued to a preceding letter
// ("x2", "H2O") or written as an exponent or subscript is not one.
std::optional<TextSpan> last_plain_expression(std::string_view text, const PlainNumberRules& rules);

// The first such number or expression of `text`.
std::optional<TextSpan> first_plain_expression(std::string_view text, const PlainNumberRules& rules);

}  // namespace r1
