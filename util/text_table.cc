#include "util/text_table.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace r1 {

namespace {

bool is_number(const std::string& s) {
  if (s == "-" || s == "nan" || s == "inf" || s == "-inf") return true;
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() || (*end == '%' && end + 1 == s.c_str() + s.size());
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t display_width(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) n += is_continuation(c) ? 0 : 1;
  return n;
}

std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string one_line(const std::string& text, size_t max_chars) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (!is_continuation(c)) {
      if (max_chars > 0 && chars == max_chars) return out + "...";
      ++chars;
    }
    if (c == '\n') out += "\\n";
    else if (c == '\r' || c == '\t') out += ' ';
    else out += text[i];
  }
  return out;
}

void TextTable::print(std::ostream& out) const {
  size_t cols = header_.size();
  std::vector<size_t> width(cols);
  std::vector<bool> right(cols, true);
  for (size_t c = 0; c < cols; ++c) {
    width[c] = display_width(header_[c]);
    for (const auto& row : rows_) {
      const std::string& cell = c < row.size() ? row[c] : "";
      width[c] = std::max(width[c], display_width(cell));
      if (!is_number(cell)) right[c] = false;
    }
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < cols; ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      std::string pad(width[c] - display_width(cell), ' ');
      bool last = c + 1 == cols;
      if (c > 0) line += "  ";
      line += right[c] ? pad + cell : (last ? cell : cell + pad);
    }
    out << line << "\n";
  };
  print_row(header_);
  std::vector<std::string> rule;
  for (size_t c = 0; c < cols; ++c) rule.push_back(std::string(width[c], '-'));
  print_row(rule);
  for (const auto& row : rows_) print_row(row);
}

}  // namespace r1
