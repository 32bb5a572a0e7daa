// The target of an HTTP request ("/api/runs/0/steps/3?sort=reward") split
// into percent-decoded path segments and query parameters, and typed access
// to the parameters with errors naming them. A path with a "." or ".."
// segment, an empty segment or bad escapes is refused here, before routing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

struct RequestTarget {
  std::vector<std::string> segments;  // "/" has none
  std::map<std::string, std::string> query;
};

Result<RequestTarget> parse_request_target(const std::string& target);

// An error naming the first parameter not in `allowed`.
Status allow_only(const RequestTarget& t, const std::vector<std::string>& allowed);
std::optional<std::string> text_param(const RequestTarget& t, const std::string& name);
Result<std::optional<int64_t>> int_param(const RequestTarget& t, const std::string& name);
// A segment that must be a non-negative integer (a run id, a step).
Result<int64_t> index_segment(const std::string& segment, const std::string& what);

}  // namespace r1
