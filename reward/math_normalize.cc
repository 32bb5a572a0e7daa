#include "reward/math_normalize.h"

#include <array>
#include <cctype>
#include <utility>
#include <vector>

namespace r1 {
namespace {

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// Removes a command only where it is the whole command name ("\left" but not
// "\leftarrow").
void remove_command(std::string& s, std::string_view cmd, std::string_view to = "") {
  size_t pos = 0;
  while ((pos = s.find(cmd, pos)) != std::string::npos) {
    size_t end = pos + cmd.size();
    if (end < s.size() && is_alpha(s[end])) {
      pos = end;
      continue;
    }
    s.replace(pos, cmd.size(), to);
    pos += to.size();
  }
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// Index just past the brace group opening at `open`, or npos if unbalanced.
size_t match_brace(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i + 1;
  }
  return std::string::npos;
}

bool has_math_content(const std::string& s) {
  for (char c : s)
    if (is_digit(c) || is_alpha(c) || c == '\\') return true;
  return false;
}

// \text{...} groups are units ("5.4 \text{ cents}") when maths surrounds
// them, connectives ("3 \text{ and } 5") when they read so, and the answer
// itself ("\text{Evelyn}", "\text{(B)}") otherwise.
std::string handle_text_groups(std::string s) {
  struct Group {
    size_t begin, end;
    std::string content;
  };
  std::vector<Group> groups;
  std::string rest;
  size_t pos = 0;
  while (true) {
    size_t at = s.find("\\text", pos);
    if (at == std::string::npos) break;
    size_t open = at + 5;
    while (open < s.size() && is_space(s[open])) ++open;
    size_t close = (open < s.size() && s[open] == '{') ? match_brace(s, open) : std::string::npos;
    if (close == std::string::npos) break;
    rest += s.substr(pos, at - pos);
    groups.push_back({at, close, s.substr(open + 1, close - open - 2)});
    pos = close;
  }
  if (groups.empty()) return s;
  rest += s.substr(pos);
  bool units = has_math_content(rest);
  std::string out;
  size_t last = 0;
  for (const Group& g : groups) {
    out += s.substr(last, g.begin - last);
    std::string word = trim(g.content);
    size_t end = g.end;
    if (!units) {
      out += g.content;
    } else if (word == "and" || word == "or" || word == ",") {
      out += ",";
    } else {
      // A unit may carry a power: "\mbox{ cm}^2".
      if (end < s.size() && s[end] == '^') {
        if (end + 1 < s.size() && is_digit(s[end + 1])) end += 2;
        else if (end + 1 < s.size() && s[end + 1] == '{') {
          size_t close = match_brace(s, end + 1);
          if (close != std::string::npos) end = close;
        }
      }
      out += " ";
    }
    last = end;
  }
  out += s.substr(last);
  return out;
}

bool is_function_word(const std::string& w) {
  static const std::array<const char*, 14> kWords = {"sin", "cos", "tan", "cot", "sec", "csc", "log",
                                                     "ln",  "exp", "sqrt", "and", "or", "pi", "in"};
  for (const char* k : kWords)
    if (w == k) return true;
  return false;
}

// "5 cm^2", "18 dollars": trailing plain words after a number are units.
std::string drop_trailing_unit_words(std::string s) {
  while (true) {
    std::string t = trim(s);
    size_t sp = t.find_last_of(" \t\n");
    if (sp == std::string::npos) return t;
    std::string word = t.substr(sp + 1);
    size_t letters = 0;
    while (letters < word.size() && is_alpha(word[letters])) ++letters;
    std::string tail = word.substr(letters);
    bool power =
        tail.empty() || ((tail.size() == 2 && tail[0] == '^' && is_digit(tail[1])) ||
                         (tail.size() == 4 && tail.rfind("^{", 0) == 0 && is_digit(tail[2]) && tail[3] == '}'));
    std::string head = trim(t.substr(0, sp));
    bool head_numeric = !head.empty() && (is_digit(head.back()) || head.back() == '}' || head.back() == '%');
    if (letters < 2 || !power || is_function_word(word.substr(0, letters)) || !head_numeric) return t;
    s = head;
  }
}

bool has_brackets(const std::string& s) {
  return s.find_first_of("([") != std::string::npos || s.find("\\{") != std::string::npos;
}

// A thousands group at s[j]: the separator `sep`, then exactly three digits.
bool group_at(const std::string& s, size_t j, char sep) {
  return j + 4 <= s.size() && s[j] == sep && is_digit(s[j + 1]) && is_digit(s[j + 2]) && is_digit(s[j + 3]) &&
         (j + 4 == s.size() || !is_digit(s[j + 4]));
}

// "1,000,000" -> "1000000" and "1 000 000" -> "1000000" where every group
// after the first has 3 digits and the first has 1-3 (not a lone 0). One
// separator per number; "2 6" and "0,125" are left alone.
std::string drop_thousands_separators(const std::string& s) {
  if (has_brackets(s)) return s;
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (!is_digit(s[i]) || (i > 0 && (is_digit(s[i - 1]) || s[i - 1] == '.'))) {
      out += s[i++];
      continue;
    }
    size_t j = i;
    while (j < s.size() && is_digit(s[j])) ++j;
    std::string number = s.substr(i, j - i);
    if (j - i <= 3 && s[i] != '0') {
      char sep = group_at(s, j, ',') ? ',' : group_at(s, j, ' ') ? ' ' : 0;
      while (sep && group_at(s, j, sep)) {
        number += s.substr(j + 1, 3);
        j += 4;
      }
    }
    out += number;
    i = j;
  }
  return out;
}

// "1,000.99m²", "5 cm³": a unit with a Unicode power after a number goes.
std::string drop_unicode_power_unit(std::string s) {
  for (std::string_view power : {"²", "³"}) {
    if (s.size() < power.size() || s.compare(s.size() - power.size(), power.size(), power) != 0) continue;
    size_t e = s.size() - power.size(), b = e;
    while (b > 0 && e - b < 3 && is_alpha(s[b - 1])) --b;
    size_t d = b;
    while (d > 0 && is_space(s[d - 1])) --d;
    if (b < e && d > 0 && is_digit(s[d - 1])) return s.substr(0, d);
  }
  return s;
}

// "2 and 3", "x = 1 or x = 2": outside \text{}, a connective between maths
// separates answers.
std::string connectives_to_commas(std::string s) {
  bool digits = false;
  for (char c : s) digits |= is_digit(c);
  if (!digits) return s;
  for (std::string_view w : {" and ", " or "}) replace_all(s, w, ", ");
  return s;
}

std::string strip_trailing_punctuation(std::string s) {
  while (true) {
    s = trim(s);
    if (s.empty()) return s;
    char c = s.back();
    if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!') {
      if (c == '!' && s.size() >= 2 && (is_digit(s[s.size() - 2]) || s[s.size() - 2] == ')')) return s;  // factorial
      if (c == '.' && s.size() >= 2 && s[s.size() - 2] == '\\') return s;
      s.pop_back();
      continue;
    }
    return s;
  }
}

// "x \in [-2, 7]" -> "[-2, 7]".
std::string strip_membership(std::string s) {
  size_t at = s.find("\\in");
  if (at == std::string::npos || (at + 3 < s.size() && is_alpha(s[at + 3]))) return s;
  std::string lhs = trim(s.substr(0, at));
  if (lhs.size() == 1 && is_alpha(lhs[0])) return trim(s.substr(at + 3));
  return s;
}

// Spacing, sizing and font commands, dollar and currency signs, degree
// marks, Markdown emphasis: what never changes the value.
std::string strip_markup(std::string s) {
  // Matrix row breaks "\\" must survive the removal of "\ " spacing below.
  replace_all(s, "\\\\", "\x01");
  replace_all(s, "\\$", "");
  replace_all(s, "$", "");
  // ",\!" is the MATH dataset's thousands separator: "11,\! 111".
  for (std::string_view sep : {",\\! ", ",\\!", "{,}"}) replace_all(s, sep, ",");
  for (std::string_view c : {"\\dfrac", "\\tfrac"}) remove_command(s, c, "\\frac");
  for (std::string_view c : {"\\mbox", "\\textbf", "\\textrm", "\\textnormal", "\\mathrm", "\\textit", "\\mathbf",
                             "\\operatorname"})
    remove_command(s, c, "\\text");
  for (std::string_view c : {"\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big",
                             "\\displaystyle", "\\dots", "\\ldots", "\\cdots", "\\qquad", "\\quad"})
    remove_command(s, c, " ");
  for (std::string_view c : {"^{\\circ}", "^\\circ", "{}^\\circ", "\\circ", "\\degree", "°"}) replace_all(s, c, "");
  for (std::string_view c : {"\\!", "\\,", "\\;", "\\:", "\\ ", "~"}) replace_all(s, c, " ");
  replace_all(s, "\x01", "\\\\");
  replace_all(s, "\\%", "%");
  for (std::string_view c : {"**", "€", "£", "¥", "₹", "\\euro"}) replace_all(s, c, "");
  replace_all(s, "≠", "\\ne ");
  replace_all(s, "\\text{.}", "");
  return s;
}

}  // namespace

std::string normalize_answer(std::string_view answer) {
  std::string s = connectives_to_commas(handle_text_groups(strip_markup(std::string(answer))));
  s = strip_trailing_punctuation(std::move(s));
  s = drop_unicode_power_unit(std::move(s));
  s = strip_membership(std::move(s));
  s = drop_trailing_unit_words(std::move(s));
  s = drop_thousands_separators(s);
  for (std::string_view w : {" degrees", " degree"}) {
    if (s.size() > w.size() && s.compare(s.size() - w.size(), w.size(), w) == 0) s.resize(s.size() - w.size());
  }
  return strip_trailing_punctuation(std::move(s));
}

std::string canonical_text(std::string_view text) {
  std::string out;
  for (char c : text)
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace r1
