#include "reward/task_rewards.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "reward/arith_eval.h"
#include "reward/pcre_regex.h"

namespace r1 {

namespace {

std::string_view strip(std::string_view s) {
  const char* kSpace = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// TinyZero's extract_solution on a completion: the final line only, then the
// last non-greedy <answer>...</answer> on it.
std::optional<std::string> countdown_answer(std::string_view completion) {
  static const PcreRegex kAnswer = PcreRegex::must_compile(R"(<answer>(.*?)</answer>)");
  size_t nl = completion.rfind('\n');
  std::string_view last_line = nl == std::string_view::npos ? completion : completion.substr(nl + 1);
  Result<std::vector<RegexMatch>> all = kAnswer.find_all(last_line);
  if (!all.ok() || all->empty()) return std::nullopt;
  return std::string(strip(all->back().group(last_line, 1)));
}

// re.findall(r'\d+') as integers; runs too long for int64 cannot equal a
// given number, so they map to a sentinel that never matches.
std::vector<int64_t> integers_in(std::string_view text) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < text.size();) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    int64_t v = -1;
    auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + j, v);
    out.push_back(ec == std::errc() ? v : -1);
    i = j;
  }
  return out;
}

bool uses_each_number_once(std::string_view equation, std::vector<int64_t> numbers) {
  std::vector<int64_t> used = integers_in(equation);
  std::sort(used.begin(), used.end());
  std::sort(numbers.begin(), numbers.end());
  return used == numbers;
}

std::optional<double> parse_number(std::string text) {
  text.erase(std::remove_if(text.begin(), text.end(), [](char c) { return c == ',' || c == '$'; }), text.end());
  std::string_view s = strip(text);
  if (s.empty()) return std::nullopt;
  std::string padded(s);
  if (padded.back() == '.') padded += '0';  // "72." reads as 72
  double v = 0.0;
  auto [ptr, ec] = std::from_chars(padded.data(), padded.data() + padded.size(), v);
  if (ec != std::errc() || ptr != padded.data() + padded.size()) return std::nullopt;
  return v;
}

Result<std::vector<int64_t>> reference_integers(const RewardInput& input, const char* key) {
  R1_ASSIGN_OR_RETURN(const JsonValue* v, reference_field(input, key));
  const std::string bad = input.where + ": field '" + key + "' must be a list of integers";
  if (!v->IsArray()) return Status::error(bad);
  std::vector<int64_t> out;
  for (const auto& x : v->GetArray()) {
    if (!x.IsInt64()) return Status::error(bad);
    out.push_back(x.GetInt64());
  }
  return out;
}

Result<double> reference_number(const RewardInput& input, const char* key) {
  R1_ASSIGN_OR_RETURN(const JsonValue* v, reference_field(input, key));
  if (!v->IsNumber()) return Status::error(input.where + ": field '" + key + "' must be a number");
  return v->GetDouble();
}

class CountdownChecker : public RewardChecker {
 public:
  explicit CountdownChecker(CountdownOptions options) : options_(options) {}
  Result<RewardScore> score(const RewardInput& input) const override {
    R1_ASSIGN_OR_RETURN(std::vector<int64_t> numbers, reference_integers(input, "numbers"));
    R1_ASSIGN_OR_RETURN(double target, reference_number(input, "target"));
    CountdownOutcome out = score_countdown(input.completion, numbers, target, options_);
    JsonWriter w;
    w.begin_object().key("equation");
    out.equation ? w.value(*out.equation) : w.null();
    w.key("numbers_ok").value(out.numbers_ok).key("value");
    out.value ? w.value(*out.value) : w.null();
    w.end_object();
    return RewardScore{out.score, w.str()};
  }
  Status check_reference(const RewardInput& row) const override {
    R1_RETURN_IF_ERROR(reference_integers(row, "numbers").status());
    return reference_number(row, "target").status();
  }

 private:
  CountdownOptions options_;
};

class Gsm8kChecker : public RewardChecker {
 public:
  Gsm8kChecker(Gsm8kOptions options, std::string field) : options_(options), field_(std::move(field)) {}
  Result<RewardScore> score(const RewardInput& input) const override {
    // Gold as text: a GSM8K solution's "#### N", else the whole value.
    R1_ASSIGN_OR_RETURN(std::string gold, reference_text(input, field_));
    Result<double> s = score_gsm8k(input.completion, gold, options_);
    if (!s.ok()) return s.status().with_context(input.where + ": field '" + field_ + "'");
    JsonWriter w;
    std::optional<std::string> extracted = extract_gsm8k_answer(input.completion);
    w.begin_object().key("extracted");
    extracted ? w.value(*extracted) : w.null();
    w.end_object();
    return RewardScore{*s, w.str()};
  }
  Status check_reference(const RewardInput& row) const override { return reference_text(row, field_).status(); }

 private:
  Gsm8kOptions options_;
  std::string field_;
};

}  // namespace

CountdownOutcome score_countdown(std::string_view completion, const std::vector<int64_t>& numbers, double target,
                                 const CountdownOptions& options) {
  CountdownOutcome out;
  out.equation = countdown_answer(completion);
  if (!out.equation) return out;
  out.score = options.format_score;
  out.numbers_ok = uses_each_number_once(*out.equation, numbers);
  if (!out.numbers_ok) return out;
  Result<double> value = evaluate_arithmetic(*out.equation);
  if (!value.ok()) return out;
  out.value = *value;
  if (std::abs(*value - target) < 1e-5) out.score = options.score;
  return out;
}

std::optional<std::string> extract_gsm8k_answer(std::string_view text) {
  static const PcreRegex kStrict = PcreRegex::must_compile(R"(#### \$?(-?[0-9.,]+))");
  Result<std::vector<RegexMatch>> all = kStrict.find_all(text);
  if (!all.ok() || all->empty()) return std::nullopt;
  std::string n(all->back().group(text, 1));
  n.erase(std::remove(n.begin(), n.end(), ','), n.end());
  return n;
}

Result<double> score_gsm8k(std::string_view completion, std::string_view gold, const Gsm8kOptions& options) {
  size_t hashes = gold.rfind("####");
  std::string gold_text(hashes == std::string_view::npos ? gold : gold.substr(hashes + 4));
  std::optional<double> gold_value = parse_number(gold_text);
  if (!gold_value) return Status::error("gold answer '" + std::string(strip(gold_text)) + "' is not a number");
  std::optional<std::string> answer = extract_gsm8k_answer(completion);
  if (!answer) return 0.0;
  std::optional<double> value = parse_number(*answer);
  return value && *value == *gold_value ? options.score : options.format_score;
}

Result<std::unique_ptr<RewardChecker>> make_countdown_checker(CheckerParams& params) {
  CountdownOptions o;
  R1_ASSIGN_OR_RETURN(o.format_score, params.number("format_score", o.format_score));
  R1_ASSIGN_OR_RETURN(o.score, params.number("score", o.score));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  return std::unique_ptr<RewardChecker>(new CountdownChecker(o));
}

Result<std::unique_ptr<RewardChecker>> make_gsm8k_checker(CheckerParams& params) {
  Gsm8kOptions o;
  R1_ASSIGN_OR_RETURN(o.format_score, params.number("format_score", o.format_score));
  R1_ASSIGN_OR_RETURN(o.score, params.number("score", o.score));
  R1_ASSIGN_OR_RETURN(std::string field, params.string("answer_field", "answer"));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  return std::unique_ptr<RewardChecker>(new Gsm8kChecker(o, field));
}

}  // namespace r1
