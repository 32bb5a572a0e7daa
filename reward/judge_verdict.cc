#include "reward/judge_verdict.h"

#include <cctype>
#include <cstdlib>
#include <optional>

namespace r1 {

namespace {

std::string trimmed_upper(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  std::string out;
  for (size_t i = b; i < e; ++i) out += static_cast<char>(std::toupper(static_cast<unsigned char>(s[i])));
  return out;
}

// A whole number or decimal, nothing else ("7", "8.5"; not "7/10").
std::optional<double> plain_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !(s[0] == '-' || s[0] == '+' || std::isdigit(static_cast<unsigned char>(s[0]))))
    return std::nullopt;
  return v;
}

std::optional<double> binary_value(const std::string& s) {
  if (s == "YES" || s == "CORRECT") return 1.0;
  if (s == "NO" || s == "INCORRECT") return 0.0;
  return std::nullopt;
}

}  // namespace

JudgeVerdict parse_judge_verdict(std::string_view output, VerdictKind kind, double max_score) {
  JudgeVerdict v;
  // Scan every [[...]] from the end; the last one of the right kind counts.
  size_t close = output.rfind("]]");
  while (close != std::string_view::npos) {
    size_t open = output.rfind("[[", close);
    if (open == std::string_view::npos) break;
    std::string inner = trimmed_upper(output.substr(open + 2, close - open - 2));
    std::optional<double> value = kind == VerdictKind::score ? plain_number(inner) : binary_value(inner);
    if (value) {
      v.value = *value;
      bool in_range = kind == VerdictKind::binary || (*value >= 0 && *value <= max_score);
      v.status = in_range ? "ok" : "out_of_range";
      if (in_range) v.reward = kind == VerdictKind::score ? *value / max_score : *value;
      return v;
    }
    if (open == 0) break;
    close = output.rfind("]]", open - 1);
  }
  return v;
}

}  // namespace r1
