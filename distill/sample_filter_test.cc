#include "distill/sample_filter.h"

#include <gtest/gtest.h>

#include "distill/filter_chain.h"

namespace r1 {
namespace {

Sample sample(int64_t prompt, int64_t index, std::string completion, double reward = 1.0,
                    int64_t tokens = 10, std::string finish = "stop") {
  Sample s;
  s.prompt_index = prompt;
  s.sample_index = index;
  s.prompt = "What is 2 + 3?";
  s.completion = std::move(completion);
  s.token_ids.assign(static_cast<size_t>(tokens), 0);
  s.finish_reason = std::move(finish);
  s.reward.total = reward;
  s.reward.components = {{"accuracy", 1.0, reward, "{}"}};
  return s;
}

std::unique_ptr<SampleFilter> filter(const std::string& json) {
  rapidjson::Document doc = value_or_throw(parse_json(json, "test"));
  return value_or_throw(make_sample_filter(doc, "test"));
}

Status filter_error(const std::string& json) {
  rapidjson::Document doc = value_or_throw(parse_json(json, "test"));
  return make_sample_filter(doc, "cfg.json: filters[1]").status();
}

// The keep flags of `f` over `samples`.
std::vector<int> keeps(const SampleFilter& f, const std::vector<Sample>& samples) {
  std::vector<const Sample*> ptrs;
  for (const auto& s : samples) ptrs.push_back(&s);
  FilterOutcome out = f.apply(ptrs);
  return std::vector<int>(out.keep.begin(), out.keep.end());
}

const char* kGood = "<think>\n2 plus 3 is 5\n</think>\n<answer>\n5\n</answer>";

TEST(SampleFilter, CorrectComparesTheTotalOrAComponentWithMinScore) {
  std::vector<Sample> s = {sample(0, 0, kGood, 1.0), sample(0, 1, kGood, 0.1), sample(0, 2, kGood, 0.5)};
  EXPECT_EQ(keeps(*filter(R"({"filter": "correct"})"), s), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(keeps(*filter(R"({"filter": "correct", "min_score": 0.5})"), s), (std::vector<int>{1, 0, 1}));
  s[2].reward.total = 2.0;  // a weighted total can differ from the component
  auto by_component = filter(R"({"filter": "correct", "component": "accuracy", "min_score": 0.6})");
  EXPECT_EQ(keeps(*by_component, s), (std::vector<int>{1, 0, 0}));
  EXPECT_TRUE(by_component->check_reward({"format", "accuracy"}).ok());
  Status missing = by_component->check_reward({"format", "acc"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("'accuracy' is not in the reward spec (components: format, acc)"),
            std::string::npos)
      << missing.message();
}

TEST(SampleFilter, FormatNeedsThinkThenAnswerTags) {
  std::vector<Sample> s = {
      sample(0, 0, kGood),
      sample(0, 1, " <think>2 plus 3</think> <answer>5</answer>"),  // after "Assistant:": leading space
      sample(0, 2, "<answer>5</answer>"),
      sample(0, 3, "<think>unclosed <answer>5</answer>"),
      sample(0, 4, "<think>x</think><answer>5</answer> and more text"),
      sample(0, 5, ""),
  };
  EXPECT_EQ(keeps(*filter(R"({"filter": "format"})"), s), (std::vector<int>{1, 1, 0, 0, 0, 0}));
  EXPECT_EQ(keeps(*filter(R"({"filter": "format", "strict": true})"), s), (std::vector<int>{1, 0, 0, 0, 0, 0}));
}

TEST(SampleFilter, NotTruncatedDropsLengthFinishes) {
  std::vector<Sample> s = {sample(0, 0, kGood, 1, 10, "stop"), sample(0, 1, kGood, 1, 64, "length")};
  EXPECT_EQ(keeps(*filter(R"({"filter": "not_truncated"})"), s), (std::vector<int>{1, 0}));
}

TEST(SampleFilter, LengthBoundsAreInclusive) {
  std::vector<Sample> s;
  for (int64_t t : {4, 5, 10, 20, 21}) s.push_back(sample(0, t, kGood, 1, t));
  EXPECT_EQ(keeps(*filter(R"({"filter": "length", "min_tokens": 5, "max_tokens": 20})"), s),
            (std::vector<int>{0, 1, 1, 1, 0}));
  EXPECT_EQ(keeps(*filter(R"({"filter": "length", "min_tokens": 10})"), s), (std::vector<int>{0, 0, 1, 1, 1}));
  EXPECT_FALSE(filter_error(R"({"filter": "length", "min_tokens": 10, "max_tokens": 5})").ok());
}

TEST(SampleFilter, LanguageBoundsTheShareOfOtherScripts) {
  std::vector<Sample> s = {
      sample(0, 0, "<think>two plus three is five</think>"),
      sample(0, 1, "<think>two plus three 等于 five</think>"),          // 4 Latin words, 2 Han: mixing 1/3
      sample(0, 2, "<think>首先 计算 总和</think> <answer>5</answer>"),  // all Han (tags are not words)
      sample(0, 3, "<think>2 + 3 = 5</think> <answer>5</answer>"),       // no words at all
  };
  EXPECT_EQ(keeps(*filter(R"({"filter": "language"})"), s), (std::vector<int>{1, 0, 0, 1}));
  EXPECT_EQ(keeps(*filter(R"({"filter": "language", "max_mixing": 0.34})"), s), (std::vector<int>{1, 1, 0, 1}));
  EXPECT_EQ(keeps(*filter(R"({"filter": "language", "language": "zh", "max_mixing": 0.5})"), s),
            (std::vector<int>{0, 0, 1, 1}));
  Status bad = filter_error(R"({"filter": "language", "language": "xx"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("cfg.json: filters[1] (language)"), std::string::npos) << bad.message();
}

TEST(SampleFilter, RepetitionBoundsTheRepeatedNgramShare) {
  EXPECT_DOUBLE_EQ(ngram_repetition_ratio("a b c d", 2), 0.0);
  EXPECT_DOUBLE_EQ(ngram_repetition_ratio("a b a b a b", 2), 1.0 - 2.0 / 5.0);  // {ab, ba} of 5 bigrams
  EXPECT_DOUBLE_EQ(ngram_repetition_ratio("A b a B", 2), 1.0 - 2.0 / 3.0);     // lowercased
  EXPECT_DOUBLE_EQ(ngram_repetition_ratio("a b", 3), 0.0);                     // too short
  std::vector<Sample> s = {sample(0, 0, "one two three four five six"),
                                 sample(0, 1, "so so so so so so so so so so"),
                                 sample(0, 2, "a b a b a b")};
  // Ratios 0, 1 - 1/9 and 0.6.
  EXPECT_EQ(keeps(*filter(R"({"filter": "repetition", "ngram": 2, "max_ratio": 0.65})"), s),
            (std::vector<int>{1, 0, 1}));
  EXPECT_EQ(keeps(*filter(R"({"filter": "repetition", "ngram": 2, "max_ratio": 0.6})"), s),
            (std::vector<int>{1, 0, 1}));  // the bound is inclusive
  EXPECT_EQ(keeps(*filter(R"({"filter": "repetition", "ngram": 2, "max_ratio": 0.5})"), s),
            (std::vector<int>{1, 0, 0}));
}

TEST(SampleFilter, DedupKeepsTheFirstOfEqualCompletionsPerPrompt) {
  std::vector<Sample> s = {sample(0, 0, "answer 5"), sample(0, 1, " answer\n 5 "), sample(0, 2, "answer 6"),
                                 sample(1, 0, "answer 5"), sample(1, 1, "answer 5")};
  EXPECT_EQ(keeps(*filter(R"({"filter": "dedup"})"), s), (std::vector<int>{1, 0, 1, 1, 0}));
  EXPECT_EQ(collapse_whitespace("  a \t b\n\nc  "), "a b c");
}

TEST(SampleFilter, MaxPerPromptKeepsTheFirstN) {
  std::vector<Sample> s = {sample(0, 0, "a"), sample(0, 3, "b"), sample(0, 5, "c"), sample(2, 1, "d")};
  EXPECT_EQ(keeps(*filter(R"({"filter": "max_per_prompt", "n": 2})"), s), (std::vector<int>{1, 1, 0, 1}));
  EXPECT_FALSE(filter_error(R"({"filter": "max_per_prompt"})").ok());  // n is required
  EXPECT_FALSE(filter_error(R"({"filter": "max_per_prompt", "n": 0})").ok());
}

TEST(SampleFilter, DecontaminateRemovesOverlapsWithAnEvalFile) {
  std::string path = std::string(::testing::TempDir()) + "/distill_eval_set.jsonl";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("{\"prompt\": \"A train leaves the station at noon and travels sixty miles per hour.\"}\n", f);
    std::fclose(f);
  }
  std::vector<Sample> s = {sample(0, 0, "a train leaves the station at noon and travels far"),
                                 sample(0, 1, "unrelated text about other things entirely, nothing shared here")};
  s[1].prompt = "Note: a train leaves the station at noon, and travels sixty miles.";  // the prompt matches too
  auto f = filter(R"({"filter": "decontaminate", "ngram": 6, "datasets": [")" + path + R"("]})");
  std::vector<const Sample*> ptrs = {&s[0], &s[1]};
  FilterOutcome out = f->apply(ptrs);
  EXPECT_EQ(std::vector<int>(out.keep.begin(), out.keep.end()), (std::vector<int>{0, 0}));
  EXPECT_EQ(out.details, (std::map<std::string, int64_t>{{"distill_eval_set", 2}}));
  s[1].prompt = "What is 2 + 3?";
  EXPECT_EQ(keeps(*f, s), (std::vector<int>{0, 1}));
  Status missing = filter_error(R"({"filter": "decontaminate", "datasets": ["/no/such/set.jsonl"]})");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("/no/such/set.jsonl"), std::string::npos) << missing.message();
}

TEST(SampleFilter, UnknownFiltersAndParamsAreNamed) {
  Status s = filter_error(R"({"filter": "corect"})");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cfg.json: filters[1]: unknown filter 'corect' (known: correct, decontaminate, dedup"),
            std::string::npos)
      << s.message();
  s = filter_error(R"({"filter": "repetition", "n": 3})");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unknown param 'n'"), std::string::npos) << s.message();
  EXPECT_FALSE(filter_error(R"({"min_score": 1})").ok());  // no "filter" key
  EXPECT_FALSE(filter_error(R"("correct")").ok());
}

TEST(FilterChain, EachStageSeesTheSurvivorsAndCountsAddUp) {
  std::vector<Sample> s = {
      sample(0, 0, kGood, 1.0, 12),           sample(0, 1, kGood, 1.0, 12),  // duplicate of 0
      sample(0, 2, kGood, 0.1, 12),           sample(1, 0, kGood, 1.0, 64, "length"),
      sample(1, 1, "<think>\nx\n</think>\n<answer>\n7\n</answer>", 1.0, 30),
      sample(2, 0, "no tags", 1.0, 8),
  };
  auto chain = value_or_throw(make_filter_chain(
      R"([{"filter": "not_truncated"}, {"filter": "correct"}, {"filter": "format"}, {"filter": "dedup"},
          {"filter": "max_per_prompt", "n": 1}])",
      "cfg.json: filters"));
  ChainResult r = apply_filter_chain(chain, s);
  EXPECT_EQ(r.kept, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(r.removed_by, (std::vector<int>{-1, 3, 1, 0, -1, 2}));
  ASSERT_EQ(r.counts.size(), 5u);
  std::vector<int64_t> inputs, removed;
  for (const auto& c : r.counts) {
    inputs.push_back(c.input);
    removed.push_back(c.removed);
  }
  EXPECT_EQ(inputs, (std::vector<int64_t>{6, 5, 4, 3, 2}));
  EXPECT_EQ(removed, (std::vector<int64_t>{1, 1, 1, 1, 0}));

  SampleReport report = summarize(s, r, 4);  // prompt 3 got no samples at all
  EXPECT_EQ(report.generated, 6);
  EXPECT_EQ(report.kept, 2);
  int64_t total_removed = 0;
  for (const auto& f : report.filters) total_removed += f.removed;
  EXPECT_EQ(report.generated - total_removed, report.kept);
  EXPECT_EQ(report.prompts_with_kept, 2);
  EXPECT_EQ(report.kept_per_prompt, (std::map<int64_t, int64_t>{{0, 2}, {1, 2}}));
  EXPECT_EQ(report.truncated, 1);
  EXPECT_DOUBLE_EQ(report.mean_tokens_kept, (12 + 30) / 2.0);
  EXPECT_DOUBLE_EQ(report.mean_tokens_generated, (12 * 3 + 64 + 30 + 8) / 6.0);
  EXPECT_DOUBLE_EQ(report.mean_reward_generated, (1 + 1 + 0.1 + 1 + 1 + 1) / 6.0);
  rapidjson::Document json = value_or_throw(parse_json(report.to_json(), "report"));
  EXPECT_EQ(json["filters"][3]["filter"].GetString(), std::string("dedup"));
  EXPECT_EQ(json["coverage"]["kept_per_prompt"]["1"].GetInt64(), 2);
}

TEST(FilterChain, AnEmptyChainKeepsEverything) {
  std::vector<Sample> s = {sample(0, 0, "a"), sample(0, 1, "a")};
  ChainResult r = apply_filter_chain({}, s);
  EXPECT_EQ(r.kept, (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(r.counts.empty());
}

}  // namespace
}  // namespace r1
