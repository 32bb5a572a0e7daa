#include "reward/shaping_rewards.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <vector>

namespace r1 {

namespace {

// Python's str.isspace() set, which str.split() splits on.
bool is_python_space(utf8proc_int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// text.lower().split(): code points lowercased (simple case mapping), then
// split on runs of whitespace. Invalid bytes are kept as they are.
std::vector<std::string> lower_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  for (size_t pos = 0; pos < text.size();) {
    utf8proc_int32_t c = 0;
    utf8proc_ssize_t n = utf8proc_iterate(bytes + pos, static_cast<utf8proc_ssize_t>(text.size() - pos), &c);
    if (n <= 0) {
      word += text[pos++];
      continue;
    }
    pos += static_cast<size_t>(n);
    if (is_python_space(c)) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
      continue;
    }
    utf8proc_uint8_t buf[4];
    utf8proc_ssize_t len = utf8proc_encode_char(utf8proc_tolower(c), buf);
    word.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(len));
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

class OverlongChecker : public RewardChecker {
 public:
  explicit OverlongChecker(OverlongOptions options) : options_(options) {}
  Result<RewardScore> score(const RewardInput& input) const override {
    if (!input.num_tokens) return Status::error(input.where + ": field 'num_tokens' is missing (overlong needs it)");
    JsonWriter w;
    w.begin_object().key("num_tokens").value(*input.num_tokens).end_object();
    return RewardScore{overlong_penalty(*input.num_tokens, options_), w.str()};
  }

 private:
  OverlongOptions options_;
};

class CosineChecker : public RewardChecker {
 public:
  CosineChecker(CosineOptions options, bool tokens, double threshold, std::unique_ptr<RewardChecker> correctness)
      : options_(options), tokens_(tokens), threshold_(threshold), correctness_(std::move(correctness)) {}
  Result<RewardScore> score(const RewardInput& input) const override {
    R1_ASSIGN_OR_RETURN(RewardScore inner, correctness_->score(input));
    int64_t length = 0;
    if (tokens_) {
      if (!input.num_tokens) return Status::error(input.where + ": field 'num_tokens' is missing (cosine needs it)");
      length = *input.num_tokens;
    } else {
      length = count_code_points(input.completion);
    }
    bool correct = inner.score >= threshold_;
    JsonWriter w;
    w.begin_object().key("correct").value(correct).key("length").value(length).key("correctness_score");
    w.value(inner.score).key("correctness_details").raw(inner.details).end_object();
    return RewardScore{cosine_scaled_reward(correct, length, options_), w.str()};
  }
  Status check_reference(const RewardInput& row) const override { return correctness_->check_reference(row); }

 private:
  CosineOptions options_;
  bool tokens_;
  double threshold_;
  std::unique_ptr<RewardChecker> correctness_;
};

class RepetitionChecker : public RewardChecker {
 public:
  RepetitionChecker(int64_t n, double max_penalty) : n_(n), max_penalty_(max_penalty) {}
  Result<RewardScore> score(const RewardInput& input) const override {
    return RewardScore{repetition_penalty(input.completion, n_, max_penalty_)};
  }

 private:
  int64_t n_;
  double max_penalty_;
};

}  // namespace

double overlong_penalty(int64_t length, const OverlongOptions& o) {
  int64_t expected = o.max_completion_length - o.overlong_buffer;
  if (length <= expected) return 0.0;
  if (length <= o.max_completion_length)
    return static_cast<double>(expected - length) / static_cast<double>(o.overlong_buffer) * o.penalty_factor;
  return -o.penalty_factor;
}

double cosine_scaled_reward(bool correct, int64_t length, const CosineOptions& o) {
  double progress = static_cast<double>(length) / static_cast<double>(o.max_len);
  if (o.clip_progress) progress = std::min(progress, 1.0);
  double cosine = std::cos(progress * std::numbers::pi);
  // open-r1 swaps min/max for wrong answers so short wrong answers cost most.
  double lo = correct ? o.min_value_correct : o.max_value_wrong;
  double hi = correct ? o.max_value_correct : o.min_value_wrong;
  return lo + 0.5 * (hi - lo) * (1.0 + cosine);
}

double repetition_penalty(std::string_view text, int64_t ngram_size, double max_penalty) {
  std::vector<std::string> words = lower_words(text);
  if (words.empty() || static_cast<int64_t>(words.size()) < ngram_size) return 0.0;
  std::set<std::vector<std::string>> distinct;
  int64_t total = 0;
  for (size_t i = 0; i + static_cast<size_t>(ngram_size) <= words.size(); ++i, ++total)
    distinct.emplace(words.begin() + static_cast<ptrdiff_t>(i), words.begin() + static_cast<ptrdiff_t>(i + ngram_size));
  double scaling = 1.0 - static_cast<double>(distinct.size()) / static_cast<double>(total);
  return scaling == 0.0 ? 0.0 : scaling * max_penalty;  // no "-0.0" in the output (as TRL)
}

int64_t count_code_points(std::string_view text) {
  int64_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

Result<std::unique_ptr<RewardChecker>> make_overlong_checker(CheckerParams& params) {
  OverlongOptions o;
  R1_ASSIGN_OR_RETURN(o.max_completion_length, params.required_integer("max_completion_length"));
  R1_ASSIGN_OR_RETURN(o.overlong_buffer, params.required_integer("overlong_buffer"));
  R1_ASSIGN_OR_RETURN(o.penalty_factor, params.number("penalty_factor", o.penalty_factor));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  if (o.overlong_buffer <= 0 || o.overlong_buffer > o.max_completion_length)
    return params.error("param 'overlong_buffer' must be in 1..max_completion_length");
  return std::unique_ptr<RewardChecker>(new OverlongChecker(o));
}

Result<std::unique_ptr<RewardChecker>> make_cosine_checker(CheckerParams& params, const NestedCheckerBuilder& build) {
  CosineOptions o;
  R1_ASSIGN_OR_RETURN(o.min_value_wrong, params.number("min_value_wrong", o.min_value_wrong));
  R1_ASSIGN_OR_RETURN(o.max_value_wrong, params.number("max_value_wrong", o.max_value_wrong));
  R1_ASSIGN_OR_RETURN(o.min_value_correct, params.number("min_value_correct", o.min_value_correct));
  R1_ASSIGN_OR_RETURN(o.max_value_correct, params.number("max_value_correct", o.max_value_correct));
  R1_ASSIGN_OR_RETURN(o.max_len, params.integer("max_len", o.max_len));
  R1_ASSIGN_OR_RETURN(o.clip_progress, params.boolean("clip_progress", o.clip_progress));
  R1_ASSIGN_OR_RETURN(std::string unit, params.string("length_unit", "chars"));
  R1_ASSIGN_OR_RETURN(double threshold, params.number("correct_threshold", 1.0));
  const JsonValue* correctness = params.raw("correctness");
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  if (o.max_len <= 0) return params.error("param 'max_len' must be positive");
  if (unit != "chars" && unit != "tokens") return params.error("param 'length_unit' must be \"chars\" or \"tokens\"");
  if (correctness == nullptr) return params.error("param 'correctness' is missing (a checker name, e.g. \"math\")");
  rapidjson::Document entry;
  if (correctness->IsString()) {
    entry.SetObject();
    entry.AddMember("checker", rapidjson::Value(correctness->GetString(), entry.GetAllocator()), entry.GetAllocator());
  } else {
    entry.CopyFrom(*correctness, entry.GetAllocator());
  }
  R1_ASSIGN_OR_RETURN(std::unique_ptr<RewardChecker> inner, build(entry, params.where() + ".correctness"));
  return std::unique_ptr<RewardChecker>(new CosineChecker(o, unit == "tokens", threshold, std::move(inner)));
}

Result<std::unique_ptr<RewardChecker>> make_repetition_checker(CheckerParams& params) {
  R1_ASSIGN_OR_RETURN(int64_t n, params.integer("ngram_size", 3));
  R1_ASSIGN_OR_RETURN(double max_penalty, params.number("max_penalty", -1.0));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  if (n <= 0) return params.error("param 'ngram_size' must be positive");
  if (max_penalty > 0) return params.error("param 'max_penalty' must not be positive");
  return std::unique_ptr<RewardChecker>(new RepetitionChecker(n, max_penalty));
}

}  // namespace r1
