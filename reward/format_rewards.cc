#include "reward/format_rewards.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <functional>

#include "reward/pcre_regex.h"

namespace r1 {

namespace {

const PcreRegex& strict_regex() {
  static const PcreRegex kRegex = PcreRegex::must_compile(
      R"(^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$)", PCRE2_DOTALL | PCRE2_MULTILINE);
  return kRegex;
}

const PcreRegex& lenient_regex() {
  static const PcreRegex kRegex =
      PcreRegex::must_compile(R"(^<think>.*?</think>\s*<answer>.*?</answer>$)", PCRE2_DOTALL);
  return kRegex;
}

// Python's re.match: anchored at the start, any end allowed by the pattern.
double matches(const PcreRegex& regex, std::string_view text) {
  RegexMatch m;
  Result<bool> found = regex.match(text, 0, true, &m);
  return found.ok() && *found ? 1.0 : 0.0;
}

size_t count_occurrences(std::string_view text, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string_view::npos; pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}

// Wraps a pure text rule as a checker. With `skip_leading_space`, leading
// whitespace is dropped first: a prompt ending "Assistant:" (R1-Zero) makes
// the completion start " <think>", which the anchored patterns would reject.
class TextRuleChecker : public RewardChecker {
 public:
  TextRuleChecker(std::function<double(std::string_view)> rule, bool skip_leading_space)
      : rule_(std::move(rule)), skip_leading_space_(skip_leading_space) {}
  Result<RewardScore> score(const RewardInput& input) const override {
    std::string_view text = input.completion;
    if (skip_leading_space_) text.remove_prefix(std::min(text.size(), text.find_first_not_of(" \t\n\r")));
    return RewardScore{rule_(text)};
  }

 private:
  std::function<double(std::string_view)> rule_;
  bool skip_leading_space_;
};

Result<std::unique_ptr<RewardChecker>> make_text_rule(CheckerParams& params, double (*rule)(std::string_view)) {
  R1_ASSIGN_OR_RETURN(bool skip, params.boolean("skip_leading_space", false));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  return std::unique_ptr<RewardChecker>(new TextRuleChecker(rule, skip));
}

}  // namespace

double format_reward_strict(std::string_view completion) { return matches(strict_regex(), completion); }
double format_reward_lenient(std::string_view completion) { return matches(lenient_regex(), completion); }

double tag_count_reward(std::string_view completion) {
  double count = 0.0;
  for (std::string_view tag : {"<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>"})
    if (count_occurrences(completion, tag) == 1) count += 0.25;
  return count;
}

Result<std::unique_ptr<RewardChecker>> make_format_strict_checker(CheckerParams& params) {
  return make_text_rule(params, format_reward_strict);
}
Result<std::unique_ptr<RewardChecker>> make_format_lenient_checker(CheckerParams& params) {
  return make_text_rule(params, format_reward_lenient);
}
Result<std::unique_ptr<RewardChecker>> make_tag_count_checker(CheckerParams& params) {
  return make_text_rule(params, tag_count_reward);
}

}  // namespace r1
