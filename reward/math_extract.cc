#include "reward/math_extract.h"

#include <algorithm>
#include <cctype>

namespace r1 {
namespace {

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// Case-insensitive rfind.
size_t rfind_nocase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = hay.size() - needle.size() + 1; i-- > 0;) {
    bool ok = true;
    for (size_t j = 0; j < needle.size() && ok; ++j)
      ok = std::tolower(static_cast<unsigned char>(hay[i + j])) == needle[j];
    if (ok) return i;
  }
  return std::string_view::npos;
}

// Content of the brace group opening at `open`; nullopt if unbalanced.
std::optional<std::string> brace_content(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;  // "\{" and "\}" are literal braces
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return std::string(s.substr(open + 1, i - open - 1));
  }
  return std::nullopt;
}

std::optional<std::string> boxed_at(std::string_view text, size_t at, size_t name_len) {
  size_t p = at + name_len;
  if (p < text.size() && std::isalpha(static_cast<unsigned char>(text[p]))) return std::nullopt;  // "\boxedfoo"
  while (p < text.size() && is_space(text[p])) ++p;
  if (p < text.size() && text[p] == '{') return brace_content(text, p);
  // "\boxed 5": one token up to whitespace or '$'.
  size_t e = p;
  while (e < text.size() && !is_space(text[e]) && text[e] != '$') ++e;
  if (e == p) return std::nullopt;
  return std::string(text.substr(p, e - p));
}

std::optional<std::string> gsm8k_hashes(std::string_view text) {
  size_t at = text.rfind("####");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + 4);
  std::string line = trim(rest.substr(0, rest.find('\n')));
  if (line.empty()) return std::nullopt;
  return line;
}

std::optional<std::string> answer_tag(std::string_view text) {
  size_t open = text.rfind("<answer>");
  if (open == std::string_view::npos) return std::nullopt;
  size_t start = open + 8;
  size_t close = text.find("</answer>", start);
  std::string_view inner = text.substr(start, close == std::string_view::npos ? std::string_view::npos : close - start);
  if (auto boxed = last_boxed(inner)) return boxed;
  if (auto hashes = gsm8k_hashes(inner)) return hashes;  // "<answer>#### 42</answer>"
  std::string t = trim(inner);
  if (t.empty()) return std::nullopt;
  return t;
}

// "The final answer is $\frac{1}{2}$." -> "\frac{1}{2}".
std::optional<std::string> final_answer_phrase(std::string_view text) {
  size_t at = rfind_nocase(text, "final answer");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + 12);
  size_t p = 0;
  while (p < rest.size() && is_space(rest[p])) ++p;
  if (rest.substr(p, 2) == "is") p += 2;
  while (p < rest.size() && (is_space(rest[p]) || rest[p] == ':')) ++p;
  rest = rest.substr(p);
  rest = rest.substr(0, rest.find('\n'));
  if (!rest.empty() && rest[0] == '$') {
    size_t dollars = rest.find_first_not_of('$');
    size_t close = rest.find('$', dollars);
    if (dollars != std::string_view::npos && close != std::string_view::npos) return trim(rest.substr(dollars, close - dollars));
  }
  // Up to the end of the sentence: a period followed by a space or the end.
  for (size_t i = 0; i < rest.size(); ++i)
    if (rest[i] == '.' && (i + 1 == rest.size() || is_space(rest[i + 1]))) return trim(rest.substr(0, i));
  std::string t = trim(rest);
  if (t.empty()) return std::nullopt;
  return t;
}

}  // namespace

std::optional<std::string> last_boxed(std::string_view text) {
  size_t end = text.size();
  // A few malformed candidates are skipped; beyond that the text is garbage
  // and rescanning it would cost quadratic time.
  for (int tries = 0; end > 0 && tries < 8; ++tries) {
    size_t boxed = text.rfind("\\boxed", end - 1);
    size_t fbox = text.rfind("\\fbox", end - 1);
    size_t at;
    size_t len;
    if (boxed != std::string_view::npos && (fbox == std::string_view::npos || boxed > fbox)) {
      at = boxed;
      len = 6;
    } else if (fbox != std::string_view::npos) {
      at = fbox;
      len = 5;
    } else {
      return std::nullopt;
    }
    if (auto content = boxed_at(text, at, len)) return content;
    if (at == 0) return std::nullopt;
    end = at;
  }
  return std::nullopt;
}

std::optional<std::string> last_number(std::string_view text) {
  for (size_t i = text.size(); i-- > 0;) {
    if (!is_digit(text[i])) continue;
    size_t end = i + 1, start = i;
    // Grow left over digits, separators and a decimal point.
    while (start > 0 && (is_digit(text[start - 1]) ||
                         ((text[start - 1] == ',' || text[start - 1] == '.' || text[start - 1] == '/') && start >= 2 &&
                          is_digit(text[start - 2]))))
      --start;
    if (start > 0 && text[start - 1] == '-') --start;
    return std::string(text.substr(start, end - start));
  }
  return std::nullopt;
}

std::optional<std::string> extract_answer(std::string_view completion, bool last_number_fallback) {
  if (auto a = answer_tag(completion)) return a;
  if (auto a = last_boxed(completion)) return a;
  if (auto a = gsm8k_hashes(completion)) return a;
  if (auto a = final_answer_phrase(completion)) return a;
  if (last_number_fallback) return last_number(completion);
  return std::nullopt;
}

}  // namespace r1
