// Aligned plain-text tables and one-line previews for terminal output.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace r1 {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}
  void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size(); }
  // Columns whose cells are all numbers (or "-") are right-aligned; the last
  // column is not padded, so long previews do not push trailing spaces.
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// Fixed-point number, "nan"/"inf" as such.
std::string fixed(double value, int decimals);
// Text on one line ("\n" shown as the two characters \n), cut to at most
// `max_chars` code points with "..." when longer. 0 means no limit.
std::string one_line(const std::string& text, size_t max_chars);
// Code points in UTF-8 text: the column width for most scripts.
size_t display_width(const std::string& text);

}  // namespace r1
