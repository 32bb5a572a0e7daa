// The interface every reward checker implements, and the data it scores.
// Kept free of LibTorch so the trainer, the CLI and tests share it cheaply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/json.h"
#include "util/status.h"

namespace r1 {

// One completion to score. `reference` is the dataset row (answer, tests,
// numbers/target, ...) and is not owned: it must outlive the score() call.
struct RewardInput {
  std::string completion;
  std::optional<int64_t> num_tokens;         // generated tokens, if known
  std::optional<std::string> finish_reason;  // "stop", "length", ... if known
  const JsonValue* reference = nullptr;
  std::string where = "row";  // names the row in errors, e.g. "rows.jsonl:3"
};

// A checker's score and a JSON object text with what it saw ("{}" if nothing).
struct RewardScore {
  double score = 0.0;
  std::string details = "{}";
};

class RewardChecker {
 public:
  virtual ~RewardChecker() = default;
  // Must be safe to call from several threads at once.
  virtual Result<RewardScore> score(const RewardInput& input) const = 0;
};

// Reads reference field `key` of the input's row; a missing row or field is an
// error naming the field, so a checker never silently scores 0.
Result<const JsonValue*> reference_field(const RewardInput& input, const char* key);

}  // namespace r1
