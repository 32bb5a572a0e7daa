// A compiled PCRE2 pattern (UTF and Unicode-property mode) that several threads can match at once:
// the compiled code is shared read-only, match data is per call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

// Byte offsets of a match and its groups; a group that did not take part
// has start == npos.
struct RegexMatch {
  struct Span {
    size_t start = std::string_view::npos;
    size_t end = std::string_view::npos;
  };
  std::vector<Span> groups;  // [0] is the whole match
  std::string_view group(std::string_view subject, size_t i) const;
  bool has(size_t i) const { return i < groups.size() && groups[i].start != std::string_view::npos; }
};

class PcreRegex {
 public:
  // `options` are PCRE2 compile flags added to PCRE2_UTF | PCRE2_UCP.
  static Result<PcreRegex> compile(const std::string& pattern, uint32_t options = 0);
  // Compiles a pattern known at build time; throws r1::Error if it is broken.
  static PcreRegex must_compile(const std::string& pattern, uint32_t options = 0);

  // Anchored at `start` when `anchored`; false when no match. Invalid UTF-8
  // in the subject (a model can emit it) never matches but is no error.
  Result<bool> match(std::string_view subject, size_t start, bool anchored, RegexMatch* out) const;
  // All non-overlapping matches, left to right.
  Result<std::vector<RegexMatch>> find_all(std::string_view subject) const;

 private:
  explicit PcreRegex(std::shared_ptr<void> code) : code_(std::move(code)) {}
  std::shared_ptr<void> code_;  // pcre2_code_8
};

}  // namespace r1
