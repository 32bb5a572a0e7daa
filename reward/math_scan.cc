#include "reward/math_scan.h"

#include <algorithm>
#include <cctype>

#include "util/utf8.h"

namespace r1 {
namespace {

constexpr size_t npos = std::string_view::npos;

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// ---- LaTeX math environments ----

struct Env {
  size_t begin, end;                  // the whole environment, delimiters included
  size_t content_begin, content_end;  // between the delimiters
};

enum Kind { kDisplayDollar, kInlineDollar, kBracket, kParen, kKinds };

// Offset of the next `close` at or after `from` that no backslash escapes; it
// does not cross a newline when `one_line`. `limit` gets where the search
// stopped, so a failed search is never repeated over the same stretch.
size_t find_close(std::string_view s, size_t from, std::string_view close, bool one_line, size_t& limit) {
  for (size_t i = from; i + close.size() <= s.size(); ++i) {
    if (one_line && s[i] == '\n') {
      limit = i;
      return npos;
    }
    if (s.compare(i, close.size(), close) == 0 && (i == 0 || s[i - 1] != '\\')) return i;
  }
  limit = s.size();
  return npos;
}

// Command names such as \text whose brace group holds words, not maths.
bool is_text_command(std::string_view name) {
  for (std::string_view t : {"text", "textbf", "textit", "textrm", "textnormal", "mbox", "mathrm", "operatorname"})
    if (name == t) return true;
  return false;
}

size_t skip_brace_group(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i + 1;
  }
  return s.size();
}

std::vector<Env> scan_environments(std::string_view s) {
  std::vector<Env> out;
  size_t fail_until[kKinds] = {0, 0, 0, 0};
  for (size_t i = 0; i < s.size();) {
    Kind kind;
    std::string_view close;
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '[' || s[i + 1] == '(')) {
      kind = s[i + 1] == '[' ? kBracket : kParen;
      close = s[i + 1] == '[' ? "\\]" : "\\)";
    } else if (s[i] == '\\') {
      i += 2;  // an escaped character: "\$", "\\"
      continue;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '$') {
      kind = kDisplayDollar;
      close = "$$";
    } else if (s[i] == '$' && (i == 0 || !is_digit(s[i - 1]))) {
      kind = kInlineDollar;
      close = "$";
    } else {
      ++i;
      continue;
    }
    size_t open_len = kind == kInlineDollar ? 1 : 2;
    size_t at = npos;
    if (i >= fail_until[kind]) {
      bool one_line = kind == kInlineDollar || kind == kParen;
      at = find_close(s, i + open_len, close, one_line, fail_until[kind]);
    }
    if (at == npos) {
      i += open_len;
      continue;
    }
    out.push_back({i, at + close.size(), i + open_len, at});
    i = at + close.size();
  }
  return out;
}

// Without surrounding blanks and the sentence's punctuation: "$(22,32),$".
std::string trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && (std::isspace(static_cast<unsigned char>(s[e - 1])) || s[e - 1] == ',' || s[e - 1] == ';' ||
                   (s[e - 1] == '.' && (e < 2 || s[e - 2] != '\\'))))
    --e;
  return std::string(s.substr(b, e - b));
}

// "$2$, $3$ and $4$": what stands between two environments of one answer.
bool is_joiner(std::string_view between) {
  std::string t;
  for (char c : between)
    if (c != ',' && !std::isspace(static_cast<unsigned char>(c))) t += c;
  return t.empty() || t == "and" || t == "or";
}

// ---- plain numbers and expressions ----

struct Token {
  enum Kind { kNum, kOp, kOpen, kClose, kBreak } kind;
  std::string text;     // canonical number or ASCII operator
  size_t begin, end;    // bytes in the text
  bool anchored = false;  // a number not glued to a preceding letter, '_', '^', '{' or '\'
};

bool digits_at(std::string_view s, size_t i, size_t n) {
  if (i + n > s.size()) return false;
  for (size_t k = i; k < i + n; ++k)
    if (!is_digit(s[k])) return false;
  return true;
}

// Reads the number at s[i] (a digit, or '.' before a digit) into canonical
// form; returns the offset after it (after a '%' or "percent" suffix too).
size_t read_number(std::string_view s, size_t i, const PlainNumberRules& rules, std::string& out) {
  size_t j = i;
  while (j < s.size() && is_digit(s[j])) ++j;
  std::string_view lead = s.substr(i, j - i);
  out = lead.empty() ? "0" : std::string(lead);
  char sep = 0;
  // Thousands groups: "1,000", "1 000 000"; a group never follows a lone 0.
  if (!lead.empty() && lead.size() <= 3 && lead[0] != '0') {
    while (j < s.size() && (s[j] == ',' || s[j] == ' ') && (sep == 0 || sep == s[j]) && digits_at(s, j + 1, 3) &&
           !digits_at(s, j + 4, 1)) {
      sep = s[j];
      out.append(s.substr(j + 1, 3));
      j += 4;
    }
  }
  size_t frac = 0;
  if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
    frac = j + 1;
  } else if (rules.decimal_comma && sep == 0 && !lead.empty() && j + 1 < s.size() && s[j] == ',' &&
             is_digit(s[j + 1])) {
    size_t k = j + 1;
    while (k < s.size() && is_digit(s[k])) ++k;
    if (k - j - 1 != 3 || lead == "0") frac = j + 1;
  }
  if (frac) {
    j = frac;
    while (j < s.size() && is_digit(s[j])) ++j;
    out += "." + std::string(s.substr(frac, j - frac));
  }
  size_t p = j;
  while (p < s.size() && is_blank(s[p])) ++p;
  size_t suffix = p < s.size() && s[p] == '%' ? 1 : s.substr(p, 7) == "percent" ? 7 : 0;
  if (suffix == 0) return j;
  out += "%";
  return p + suffix;
}

// One operator at s[i] (ASCII or the Unicode signs), as ASCII; 0 if none.
char operator_at(std::string_view s, size_t i, size_t& len) {
  len = 1;
  switch (s[i]) {
    case '+': case '-': case '*': case '/': case '^':
      return s[i];
    default:
      break;
  }
  static const std::pair<std::string_view, char> kUnicode[] = {{"×", '*'}, {"·", '*'}, {"÷", '/'}, {"−", '-'}};
  for (const auto& [text, op] : kUnicode) {
    if (s.compare(i, text.size(), text) != 0) continue;
    len = text.size();
    return op;
  }
  return 0;
}

bool anchored_at(std::string_view s, size_t begin) {
  if (begin == 0) return true;
  char p = s[begin - 1];
  return !(is_alpha(p) || p == '_' || p == '^' || p == '{' || p == '\\' || is_digit(p));
}

std::vector<Token> tokenize(std::string_view s, const PlainNumberRules& rules) {
  std::vector<Token> out;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    size_t len;
    if (is_blank(c)) {
      ++i;
    } else if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]) && (i == 0 || !is_digit(s[i - 1])))) {
      Token t{Token::kNum, "", i, 0, anchored_at(s, i)};
      t.end = read_number(s, i, rules, t.text);
      out.push_back(std::move(t));
      i = out.back().end;
    } else if (char op = operator_at(s, i, len)) {
      out.push_back({Token::kOp, std::string(1, op), i, i + len});
      i += len;
    } else if (c == '(' || c == ')') {
      out.push_back({c == '(' ? Token::kOpen : Token::kClose, std::string(1, c), i, i + 1});
      ++i;
    } else {
      len = utf8_char_length(s, i);
      if (out.empty() || out.back().kind != Token::kBreak) out.push_back({Token::kBreak, "", i, i + len});
      out.back().end = i + len;
      i += len;
    }
  }
  return out;
}

// Whether tokens a, b can stand next to each other in an expression.
bool joins(const Token& a, const Token& b) {
  bool a_value = a.kind == Token::kNum || a.kind == Token::kClose;
  bool b_value = b.kind == Token::kNum || b.kind == Token::kOpen;
  if (a.kind == Token::kBreak || b.kind == Token::kBreak) return false;
  return !(a_value && b_value);  // "2 6" and "2(3)" are not one expression
}

constexpr size_t kMaxRunTokens = 64;

// The expression around number token k: the run of operators, numbers and
// brackets containing it, trimmed to something that reads as arithmetic.
std::optional<TextSpan> expression_around(const std::vector<Token>& t, size_t k, std::string_view s) {
  size_t a = k, b = k;
  while (a > 0 && k - a < kMaxRunTokens && joins(t[a - 1], t[a])) --a;
  while (b + 1 < t.size() && b - k < kMaxRunTokens && joins(t[b], t[b + 1])) ++b;
  auto unary_minus = [&](size_t i) {
    return t[i].kind == Token::kOp && t[i].text == "-" && i + 1 < t.size() && t[i + 1].kind == Token::kNum &&
           t[i].end == t[i + 1].begin && anchored_at(s, t[i].begin);
  };
  // Leading numbers glued to letters ("x2 + 3") and dangling operators go.
  while (a < k && (t[a].kind == Token::kOp ? !unary_minus(a) : t[a].kind == Token::kNum && !t[a].anchored)) ++a;
  if (a == k && !t[k].anchored) return std::nullopt;
  while (b > k && t[b].kind == Token::kOp) --b;
  int depth = 0;
  for (size_t i = a; i <= b; ++i) depth += t[i].kind == Token::kOpen ? 1 : t[i].kind == Token::kClose ? -1 : 0;
  for (; depth > 0 && a < k && t[a].kind == Token::kOpen; ++a) --depth;
  for (; depth < 0 && b > k && t[b].kind == Token::kClose; --b) ++depth;
  if (depth != 0) a = b = k;
  TextSpan span;
  for (size_t i = a; i <= b; ++i) span.text += t[i].text;
  span.begin = t[a].begin;
  span.end = t[b].end;
  return span;
}

}  // namespace

bool looks_like_prose(std::string_view s) {
  bool prev_word = false;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '\\') {
      size_t e = i + 1;
      while (e < s.size() && is_alpha(s[e])) ++e;
      std::string_view name = s.substr(i + 1, e - i - 1);
      i = e;
      while (i < s.size() && is_blank(s[i])) ++i;
      if (is_text_command(name) && i < s.size() && s[i] == '{') i = skip_brace_group(s, i);
      prev_word = false;
      continue;
    }
    if (!is_alpha(s[i])) {
      if (!is_blank(s[i]) && s[i] != '.' && s[i] != ',') prev_word = false;
      ++i;
      continue;
    }
    size_t e = i;
    while (e < s.size() && is_alpha(s[e])) ++e;
    bool word = e - i >= 2;
    if (word && prev_word) return true;
    prev_word = word;
    i = e;
  }
  return false;
}

std::vector<TextSpan> math_environments(std::string_view text, size_t limit) {
  std::vector<Env> envs = scan_environments(text);
  std::vector<TextSpan> out;
  for (size_t i = envs.size(); i-- > 0 && out.size() < limit;) {
    // A group of joined environments, read from its last member backwards.
    std::vector<std::string> items;
    size_t end = envs[i].end, begin = envs[i].begin;
    while (true) {
      std::string item = trimmed(text.substr(envs[i].content_begin, envs[i].content_end - envs[i].content_begin));
      if (!item.empty() && !looks_like_prose(item)) {
        items.insert(items.begin(), item);
        begin = envs[i].begin;
      }
      if (i == 0 || items.size() >= 6 || items.empty() ||
          !is_joiner(text.substr(envs[i - 1].end, envs[i].begin - envs[i - 1].end)))
        break;
      --i;
    }
    if (items.empty()) continue;
    std::string joined = items[0];
    for (size_t j = 1; j < items.size(); ++j) joined += ", " + items[j];
    out.push_back({joined, begin, end});
  }
  return out;
}

std::optional<TextSpan> last_plain_expression(std::string_view text, const PlainNumberRules& rules) {
  std::vector<Token> tokens = tokenize(text, rules);
  for (size_t k = tokens.size(); k-- > 0;)
    if (tokens[k].kind == Token::kNum)
      if (auto span = expression_around(tokens, k, text)) return span;
  return std::nullopt;
}

std::optional<TextSpan> first_plain_expression(std::string_view text, const PlainNumberRules& rules) {
  std::vector<Token> tokens = tokenize(text, rules);
  for (size_t k = 0; k < tokens.size(); ++k)
    if (tokens[k].kind == Token::kNum)
      if (auto span = expression_around(tokens, k, text)) return span;
  return std::nullopt;
}

}  // namespace r1
