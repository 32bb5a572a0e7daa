// The interface every reward checker implements, and the data it scores.
// Kept free of LibTorch so the trainer, the CLI and tests share it cheaply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  // The user message and system message the completion answers, before any
  // chat template (reward models score the whole conversation); empty when
  // unknown.
  std::string prompt{};
  std::string system{};
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
  // What score() reads from the input's reference row (fields there and of
  // the right type), checked without scoring: a job checks every dataset
  // row this way before it samples anything. The default reads nothing.
  virtual Status check_reference(const RewardInput& /*row*/) const { return Status(); }
  // Checkers that score best many rows at a time (a reward model's batched
  // forward) say so; batch scoring then calls score_many once over all the
  // rows they apply to, instead of score per row on threads.
  virtual bool batched() const { return false; }
  // One score per input, in order. The default calls score() on each.
  virtual Result<std::vector<RewardScore>> score_many(const std::vector<const RewardInput*>& inputs) const;
};

// A checker that scores whole batches (score_many); one row is a batch of one.
class BatchedRewardChecker : public RewardChecker {
 public:
  bool batched() const final { return true; }
  Result<RewardScore> score(const RewardInput& input) const final;
  Result<std::vector<RewardScore>> score_many(const std::vector<const RewardInput*>& inputs) const override = 0;
};

// Reads reference field `key` of the input's row; a missing row or field is an
// error naming the field, so a checker never silently scores 0.
Result<const JsonValue*> reference_field(const RewardInput& input, const char* key);
// A reference field holding an answer: a string, or a number as its JSON text.
Result<std::string> reference_text(const RewardInput& input, const std::string& key);

}  // namespace r1
