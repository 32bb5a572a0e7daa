#include "reward/math_extract.h"

#include <algorithm>
#include <cctype>

#include "reward/math_scan.h"

namespace r1 {
namespace {

constexpr size_t npos = std::string_view::npos;
// Environments considered in step 6; earlier ones are working, not answers.
constexpr size_t kMathCandidates = 4;
// "answer" phrases considered in step 5, last first.
constexpr int kAnswerPhrases = 3;
// How far after a phrase its value may start (as math-verify's 50 chars).
constexpr size_t kPhraseReach = 50;
// Environments scanned after a phrase to find its first one.
constexpr size_t kPhraseEnvironments = 16;

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// Case-insensitive rfind of a lower-case needle, ending at or before `before`.
size_t rfind_nocase(std::string_view hay, std::string_view needle, size_t before = npos) {
  if (needle.size() > hay.size()) return npos;
  size_t last = std::min(hay.size() - needle.size(), before == npos ? hay.size() : before);
  for (size_t i = last + 1; i-- > 0;) {
    bool ok = true;
    for (size_t j = 0; j < needle.size() && ok; ++j)
      ok = std::tolower(static_cast<unsigned char>(hay[i + j])) == needle[j];
    if (ok) return i;
  }
  return npos;
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
  if (p < text.size() && is_alpha(text[p])) return std::nullopt;  // "\boxedfoo"
  while (p < text.size() && is_space(text[p])) ++p;
  if (p < text.size() && text[p] == '{') return brace_content(text, p);
  // "\boxed 5": one token up to whitespace or '$'.
  size_t e = p;
  while (e < text.size() && !is_space(text[e]) && text[e] != '$') ++e;
  if (e == p) return std::nullopt;
  return std::string(text.substr(p, e - p));
}

// "#### 72"; in "#### 72 eggs in all" the number.
std::optional<std::string> gsm8k_hashes(std::string_view text, const ExtractOptions& o) {
  size_t at = text.rfind("####");
  if (at == npos) return std::nullopt;
  std::string_view rest = text.substr(at + 4);
  std::string line = trim(rest.substr(0, rest.find('\n')));
  if (line.empty()) return std::nullopt;
  if (!looks_like_prose(line)) return line;
  if (auto plain = first_plain_expression(line, {o.decimal_comma})) return plain->text;
  return std::nullopt;
}

// Up to the end of the sentence: a period followed by a blank or the end.
std::string_view sentence(std::string_view s) {
  s = s.substr(0, s.find('\n'));
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] == '.' && (i + 1 == s.size() || is_space(s[i + 1]))) return s.substr(0, i);
  return s;
}

// A phrase's sentence is the answer as written when it starts like maths
// ("42 apples", "x = 5", "\frac12", "-3") or is one word ("Evelyn");
// "therefore $5$", "a number" or "20 gallons of tea" are prose, read through
// their maths instead.
bool reads_as_answer(std::string_view s) {
  if (s.empty() || looks_like_prose(s)) return false;
  char c = s[0];
  if (std::isdigit(static_cast<unsigned char>(c)) || std::string_view("-$\\([{.").find(c) != npos) return true;
  if (s.find_first_of(" \t") == npos) return true;
  return is_alpha(c) && !is_alpha(s[1]);  // a variable: "x = 5", "k \le 3"
}

// What a phrase says, in `after` (the text right after "answer" or "is"):
// a LaTeX environment opening within 50 characters, the sentence if it
// reads as an answer, the plain expression after the sentence's last '=',
// and its first plain number or expression.
void phrase_values(std::string_view after, const ExtractOptions& o, std::vector<std::string>& out) {
  size_t p = 0;
  while (p < after.size() && (is_space(after[p]) || after[p] == ':' || after[p] == '*')) ++p;
  after = after.substr(p);
  std::string_view said_raw = sentence(after);
  std::string_view head = after.substr(0, std::min(after.size(), kPhraseReach + 400));
  std::vector<TextSpan> envs = math_environments(head, kPhraseEnvironments);
  if (!envs.empty() && envs.back().begin <= std::min(kPhraseReach, said_raw.size())) out.push_back(envs.back().text);
  std::string said = trim(said_raw);
  while (!said.empty() && said.back() == '*') said.pop_back();
  if (reads_as_answer(said)) out.push_back(said);
  // "the total is 5 + 3 = 8": what follows the last '=' of the sentence.
  size_t eq = said_raw.rfind('=');
  if (eq != npos)
    if (auto plain = first_plain_expression(said_raw.substr(eq + 1), {o.decimal_comma})) out.push_back(plain->text);
  if (auto plain = first_plain_expression(said_raw, {o.decimal_comma})) out.push_back(plain->text);
}

// "The final answer is $\frac{1}{2}$.", "Final Answer: The largest n is 34."
void final_answer_phrase(std::string_view text, const ExtractOptions& o, std::vector<std::string>& out) {
  size_t at = rfind_nocase(text, "final answer");
  if (at == npos) return;
  std::string_view rest = text.substr(at + 12);
  std::string_view line = rest.substr(0, std::min(rest.find('\n'), size_t{200}));
  size_t is = line.find(" is");
  if (is != npos && is <= 100 && (is + 3 == line.size() || !is_alpha(line[is + 3]))) {
    // "final answer is X" and "final answer to the question is X" alike.
    phrase_values(rest.substr(is + 3), o, out);
    if (is > 0) phrase_values(rest, o, out);
    return;
  }
  phrase_values(rest, o, out);
}

// "The answer is 42 apples", "Answer: $x = 5$", "answer: 3 + 4 = 7".
void answer_phrases(std::string_view text, const ExtractOptions& o, std::vector<std::string>& out) {
  size_t before = npos;
  for (int n = 0; n < kAnswerPhrases; ++n) {
    size_t at = rfind_nocase(text, "answer", before);
    if (at == npos) return;
    before = at == 0 ? npos : at - 1;
    std::string_view rest = text.substr(at + 6);
    size_t p = 0;
    while (p < rest.size() && (is_space(rest[p]) || rest[p] == ':' || rest[p] == '*')) ++p;
    if (rest.substr(p, 2) == "is" && (p + 2 == rest.size() || !is_alpha(rest[p + 2]))) p += 2;
    phrase_values(rest.substr(p), o, out);
    if (at == 0) return;
  }
}

// Step 6: LaTeX environments and the plain expression, latest end first.
void trailing_math(std::string_view text, const ExtractOptions& o, std::vector<std::string>& out) {
  std::vector<TextSpan> spans = math_environments(text, kMathCandidates);
  if (o.last_number_fallback) {
    if (auto plain = last_plain_expression(text, {o.decimal_comma})) {
      // An environment that ends where the number does holds it: it wins.
      auto later = std::find_if(spans.begin(), spans.end(), [&](const TextSpan& s) { return s.end < plain->end; });
      spans.insert(later, *plain);
    }
  }
  for (const TextSpan& s : spans) out.push_back(s.text);
}

void answer_tag(std::string_view text, const ExtractOptions& o, std::vector<std::string>& out) {
  size_t open = text.rfind("<answer>");
  if (open == npos) return;
  size_t start = open + 8;
  size_t close = text.find("</answer>", start);
  std::string_view inner = text.substr(start, close == npos ? npos : close - start);
  if (auto boxed = last_boxed(inner)) out.push_back(*boxed);
  if (auto hashes = gsm8k_hashes(inner, o)) out.push_back(*hashes);  // "<answer>#### 42</answer>"
  std::string t = trim(inner);
  if (!t.empty() && !looks_like_prose(t)) out.push_back(t);
  final_answer_phrase(inner, o, out);
  answer_phrases(inner, o, out);
  trailing_math(inner, o, out);
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
    if (boxed != npos && (fbox == npos || boxed > fbox)) {
      at = boxed;
      len = 6;
    } else if (fbox != npos) {
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

std::vector<std::string> answer_candidates(std::string_view completion, const ExtractOptions& options) {
  std::vector<std::string> out;
  answer_tag(completion, options, out);
  if (auto a = last_boxed(completion)) out.push_back(*a);
  if (auto a = gsm8k_hashes(completion, options)) out.push_back(*a);
  final_answer_phrase(completion, options, out);
  answer_phrases(completion, options, out);
  trailing_math(completion, options, out);
  return out;
}

std::optional<std::string> extract_answer(std::string_view completion, const ExtractOptions& options) {
  std::vector<std::string> all = answer_candidates(completion, options);
  if (all.empty()) return std::nullopt;
  return all.front();
}

}  // namespace r1
