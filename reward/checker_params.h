// Reads a checker's "params" object from a reward spec, with defaults, and
// rejects keys the checker does not know, so a typo never goes unnoticed.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "util/json.h"
#include "util/status.h"

namespace r1 {

class CheckerParams {
 public:
  // `params` may be null (no params given); `where` names it in errors, e.g.
  // "spec.json: rewards[2] (cosine): params".
  CheckerParams(const JsonValue* params, std::string where);

  Result<double> number(const char* key, double fallback);
  Result<int64_t> integer(const char* key, int64_t fallback);
  Result<int64_t> required_integer(const char* key);
  Result<std::string> string(const char* key, const std::string& fallback);
  Result<bool> boolean(const char* key, bool fallback);
  // The raw value of `key`, or null when absent; marks it as known.
  const JsonValue* raw(const char* key);

  // An error naming the first key that no accessor asked for.
  Status check_no_unknown() const;
  const std::string& where() const { return where_; }
  Status error(const std::string& what) const { return Status::error(where_ + ": " + what); }

 private:
  const JsonValue* params_;
  std::string where_;
  std::set<std::string> known_;
};

}  // namespace r1
