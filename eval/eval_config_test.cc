#include "eval/eval_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/jsonl_dataset.h"
#include "eval/eval_dataset.h"
#include "util/json.h"

namespace r1 {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/r1_eval_" + name;
  std::ofstream(path) << text;
  return path;
}

Result<EvalConfig> parse(const std::string& json) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(json, "test"));
  return parse_eval_config(doc, "cfg.json");
}

std::string error_of(const std::string& json) {
  Result<EvalConfig> c = parse(json);
  return c.ok() ? "(no error)" : c.status().message();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(EvalConfig, DefaultsAndSamplingByK) {
  EvalConfig greedy = value_or_throw(parse(R"({"model": "m", "dataset": "gsm8k_test"})"));
  EXPECT_EQ(greedy.samples, 1);
  EXPECT_EQ(greedy.limit, 0);
  EXPECT_EQ(greedy.resolved_temperature(), 0.0);
  EXPECT_EQ(greedy.resolved_top_p(), 1.0);
  EvalConfig sampled = value_or_throw(parse(R"({"model": "m", "dataset": "gsm8k_test", "samples": 4})"));
  EXPECT_EQ(sampled.resolved_temperature(), 0.6);
  EXPECT_EQ(sampled.resolved_top_p(), 0.95);
  EvalConfig set = value_or_throw(parse(R"({"model": "m", "dataset": "x", "samples": 4, "temperature": 1.0})"));
  EXPECT_EQ(set.resolved_temperature(), 1.0);
}

TEST(EvalConfig, ErrorsNameTheKey) {
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": "d", "sample": 4})"), "unknown key 'sample'"));
  // Type and range errors read "field '<key>'" in every config (util/config_fields.h).
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": "d", "samples": "4"})"),
                       "field 'samples' must be an integer"));
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": "d", "samples": 0})"), "field 'samples' must be >= 1"));
  EXPECT_TRUE(contains(error_of(R"({"dataset": "d"})"), "field 'model' is required"));
  EXPECT_TRUE(contains(error_of(R"({"model": "m"})"), "field 'dataset' is required"));
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": "d", "top_p": 0})"), "field 'top_p'"));
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": "d", "template": "alpaca"})"), "field 'template'"));
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": "d", "stop": "x"})"), "field 'stop'"));
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": 5})"), "field 'dataset' must be"));
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": "d", "dtype": ""})"),
                       "field 'dtype': must be auto, float32, bfloat16 or float16, got ''"));
  EXPECT_TRUE(contains(error_of(R"({"model": "m", "dataset": "d", "reward": [{"checker": "nope"}]})"),
                       "unknown checker 'nope'"));
}

TEST(EvalConfig, RewardFileIsReadIntoTheConfig) {
  std::string spec = write_temp("spec.json", R"({"rewards": [{"checker": "gsm8k", "name": "accuracy"}]})");
  EvalConfig c = value_or_throw(parse(R"({"model": "m", "dataset": "d", "reward": ")" + spec + R"("})"));
  EXPECT_TRUE(contains(c.reward, "\"gsm8k\""));
}

TEST(EvalConfig, OverridesParseJsonValuesElseStrings) {
  rapidjson::Document doc = value_or_throw(parse_json(R"({"model": "m", "dataset": "gsm8k_test"})", "t"));
  EvalConfig c = value_or_throw(
      eval_config_fields().parse(doc, "t", {"samples=4", "dataset=countdown:heldout", R"(stop=["\n\n"])"}));
  EXPECT_EQ(c.samples, 4);
  EXPECT_EQ(c.dataset, "countdown:heldout");
  ASSERT_TRUE(c.stop);
  EXPECT_EQ(*c.stop, std::vector<std::string>{"\n\n"});
  EXPECT_FALSE(eval_config_fields().parse(doc, "t", {"samples"}).ok());
}

TEST(EvalConfig, JsonRoundTrips) {
  EvalConfig c = value_or_throw(parse(R"({"model": "m", "dataset": {"task": "countdown", "n": 3, "max_number": 9},
      "samples": 2, "top_p": 0.5, "stop": ["\n"], "output_dir": "o",
      "reward": {"rewards": [{"checker": "math", "name": "accuracy"}]}})"));
  std::string once = eval_config_json(c);
  rapidjson::Document doc = value_or_throw(parse_json(once, "once"));
  EXPECT_EQ(eval_config_json(value_or_throw(parse_eval_config(doc, "once"))), once);
}

EvalConfig task_config(int64_t n, int64_t limit) {
  EvalConfig c;
  c.model = "m";
  c.dataset_object = R"({"task": "countdown", "split": "heldout", "n": )" + std::to_string(n) +
                     R"(, "min_numbers": 3, "max_numbers": 3, "max_number": 9, "max_target": 30})";
  c.limit = limit;
  return c;
}

TEST(EvalDataset, GeneratedTaskWithLimitAndDefaults) {
  EvalDataset ds = value_or_throw(load_eval_dataset(task_config(6, 4)));
  EXPECT_EQ(ds.label, "countdown:heldout");
  EXPECT_EQ(ds.total_examples, 6);
  ASSERT_EQ(ds.examples.size(), 4u);
  EXPECT_EQ(ds.template_name, "r1_zero");
  EXPECT_TRUE(contains(ds.reward_spec, "\"countdown\""));
  EXPECT_TRUE(ds.stop.empty());
  // The same heldout problems whatever the limit.
  EvalDataset all = value_or_throw(load_eval_dataset(task_config(6, 0)));
  EXPECT_EQ(all.examples.size(), 6u);
  EXPECT_EQ(all.examples[3].id, ds.examples[3].id);
}

TEST(EvalDataset, UnknownNamesListTheKnownOnes) {
  EvalConfig c = task_config(4, 0);
  c.dataset_object.clear();
  c.dataset = "gsm9k";
  Result<EvalDataset> ds = load_eval_dataset(c);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(contains(ds.status().message(), "field 'dataset': 'gsm9k' is neither"));
  EXPECT_TRUE(contains(ds.status().message(), "gsm8k_test"));
  EXPECT_TRUE(contains(ds.status().message(), "also knows 'mbpp'"));
  c.dataset = "countdown:test";
  EXPECT_FALSE(load_eval_dataset(c).ok());
  c.dataset.clear();
  c.dataset_object = R"({"prompt_field": "q"})";
  ds = load_eval_dataset(c);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(contains(ds.status().message(), "field 'path' is missing"));
}

TEST(EvalDataset, FilesChooseTheCheckerByTheirFields) {
  EvalConfig c = task_config(4, 0);
  c.dataset_object.clear();
  c.dataset = write_temp("answers.jsonl", "{\"prompt\": \"1+1\", \"answer\": \"2\"}\n");
  EXPECT_TRUE(contains(value_or_throw(load_eval_dataset(c)).reward_spec, "\"math\""));
  c.dataset = write_temp("countdown.jsonl", "{\"prompt\": \"p\", \"numbers\": [1, 2], \"target\": 3}\n");
  EXPECT_TRUE(contains(value_or_throw(load_eval_dataset(c)).reward_spec, "\"countdown\""));
  c.dataset = write_temp("code.jsonl", "{\"prompt\": \"p\", \"tests\": {\"asserts\": [\"assert f()\"]}}\n");
  EXPECT_TRUE(contains(value_or_throw(load_eval_dataset(c)).reward_spec, "\"code\""));
  c.dataset = write_temp("bare.jsonl", "{\"prompt\": \"p\", \"label\": 3}\n");
  Result<EvalDataset> bare = load_eval_dataset(c);
  ASSERT_FALSE(bare.ok());
  EXPECT_TRUE(contains(bare.status().message(), "set 'reward'"));
  c.reward = R"({"rewards": [{"checker": "format"}]})";
  EXPECT_TRUE(load_eval_dataset(c).ok());
}

TEST(EvalDataset, BadRowsNameFileAndLine) {
  EvalConfig c = task_config(4, 0);
  c.dataset_object.clear();
  c.dataset = write_temp("bad.jsonl", "{\"prompt\": \"a\", \"answer\": \"1\"}\n{\"question\": \"b\"}\n");
  Result<EvalDataset> ds = load_eval_dataset(c);
  ASSERT_FALSE(ds.ok());
  EXPECT_TRUE(contains(ds.status().message(), "bad.jsonl:2: field 'prompt' is missing"));
}

bool shared_data_present() { return std::filesystem::exists(data_root() + "/mbpp/mbpp.jsonl"); }

TEST(EvalDataset, MbppIsTheTestSplitWithTestsInThePrompt) {
  if (!shared_data_present()) GTEST_SKIP() << "no shared data at " << data_root();
  EvalConfig c = task_config(4, 0);
  c.dataset_object.clear();
  c.dataset = "mbpp";
  EvalDataset ds = value_or_throw(load_eval_dataset(c));
  ASSERT_EQ(ds.examples.size(), 500u);
  EXPECT_EQ(ds.examples.front().id, "11");
  EXPECT_EQ(ds.examples.back().id, "510");
  EXPECT_TRUE(contains(ds.examples.front().prompt, "Your code should pass these tests:\n\nassert "));
  EXPECT_TRUE(contains(ds.reward_spec, "\"mbpp\""));
}

TEST(EvalDataset, HumanevalStopsOnlyForBareCompletions) {
  if (!shared_data_present()) GTEST_SKIP() << "no shared data at " << data_root();
  EvalConfig c = task_config(4, 2);
  c.dataset_object.clear();
  c.dataset = "humaneval";
  EvalDataset bare = value_or_throw(load_eval_dataset(c));
  EXPECT_EQ(bare.template_name, "none");
  EXPECT_EQ(bare.stop, humaneval_stop_strings());
  EXPECT_TRUE(contains(bare.reward_spec, R"("extract": "none")"));
  c.template_name = "chatml";
  EvalDataset chat = value_or_throw(load_eval_dataset(c));
  EXPECT_TRUE(chat.stop.empty());
  EXPECT_FALSE(contains(chat.reward_spec, "extract"));
}

}  // namespace
}  // namespace r1
