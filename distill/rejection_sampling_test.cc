#include "distill/rejection_sampling.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/builtin_tasks.h"
#include "data/jsonl_dataset.h"
#include "sft/sft_data.h"
#include "sft/sft_test_util.h"
#include "util/jsonl.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

std::vector<rapidjson::Document> read_rows(const std::string& path) {
  JsonlReader reader = value_or_throw(JsonlReader::open(path));
  std::vector<rapidjson::Document> rows;
  for (;;) {
    rapidjson::Document d;
    if (!value_or_throw(reader.next(d))) break;
    rows.push_back(std::move(d));
  }
  return rows;
}

class RejectionSampling : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = sft_temp_dir("distill_sampling");
    model_ = write_tiny_model(dir_, 5);
  }
  void TearDown() override { fs::remove_all(dir_); }

  SampleConfig config(const std::string& name) const {
    SampleConfig c;
    c.model = model_;
    c.dataset = R"({"task": "countdown", "n": 5, "seed": 7})";
    c.samples_per_prompt = 3;
    c.temperature = 1.0;
    c.top_p = 1.0;
    c.max_new_tokens = 12;
    c.batch_size = 2;  // three generate() calls
    c.seed = 11;
    c.reward_workers = 2;
    c.filters = R"([{"filter": "length", "min_tokens": 1}, {"filter": "dedup"}, {"filter": "max_per_prompt", "n": 2}])";
    c.output_dir = dir_ + "/" + name;
    return c;
  }

  std::string dir_, model_;
};

TEST_F(RejectionSampling, RowsMatchTheReportAndRenderAsTheyWereSampled) {
  SampleConfig c = config("run");
  c.save_rejected = true;
  SampleReport report = value_or_throw(run_sample(c, nullptr));
  EXPECT_EQ(report.prompts, 5);
  EXPECT_EQ(report.generated, 15);
  ASSERT_EQ(report.filters.size(), 3u);
  int64_t removed = 0;
  for (const auto& f : report.filters) removed += f.removed;
  EXPECT_EQ(report.generated - removed, report.kept);
  EXPECT_EQ(report.filters[2].filter, "max_per_prompt");
  EXPECT_GE(report.filters[2].removed, 5);  // at most 2 of the 3 samples per prompt stay

  auto kept = read_rows(c.output_dir + "/samples.jsonl");
  auto rejected = read_rows(c.output_dir + "/rejected.jsonl");
  EXPECT_EQ(static_cast<int64_t>(kept.size()), report.kept);
  EXPECT_EQ(static_cast<int64_t>(rejected.size()), removed);
  rapidjson::Document on_disk = value_or_throw(read_json_file(c.output_dir + "/report.json"));
  EXPECT_EQ(on_disk["kept"].GetInt64(), report.kept);
  EXPECT_TRUE(fs::exists(c.output_dir + "/sample_config.json"));

  // The prompt of each row is the countdown problem's user message, and
  // `r1 sft` with the same template (r1_zero) tokenizes exactly the prompt
  // the model was sampled with, followed by the completion.
  TaskOptions t;
  t.n = 5;
  t.seed = 7;
  std::vector<Example> examples = task_examples("countdown", value_or_throw(generate_tasks(t)));
  Tokenizer tok = value_or_throw(Tokenizer::load(model_));
  SftDataOptions o;
  o.chat_template = value_or_throw(parse_chat_template("r1_zero"));
  o.max_length = 4096;
  o.eos_id = *tok.token_to_id("<|im_end|>");  // as r1 sft's add_eos
  auto sft = value_or_throw(load_sft_samples(c.output_dir + "/samples.jsonl", tok, o));
  ASSERT_EQ(sft.size(), kept.size());
  std::map<std::string, int64_t> per_prompt;
  for (size_t i = 0; i < kept.size(); ++i) {
    std::string id = kept[i]["prompt_id"].GetString();
    ++per_prompt[id];
    const Example* e = nullptr;
    for (const auto& ex : examples)
      if (ex.id == id) e = &ex;
    ASSERT_NE(e, nullptr) << id;
    EXPECT_EQ(kept[i]["prompt"].GetString(), e->prompt);
    std::vector<int64_t> prompt_ids = tok.encode(value_or_throw(render_prompt(*e, *o.chat_template)));
    size_t first_target = 0;
    while (!sft[i].trained[first_target]) ++first_target;
    EXPECT_EQ(std::vector<int64_t>(sft[i].ids.begin(), sft[i].ids.begin() + first_target), prompt_ids);
    EXPECT_EQ(tok.decode(std::vector<int64_t>(sft[i].ids.begin() + first_target, sft[i].ids.end()), true),
              std::string(kept[i]["completion"].GetString(), kept[i]["completion"].GetStringLength()));
  }
  int64_t covered = static_cast<int64_t>(per_prompt.size());
  EXPECT_EQ(report.prompts_with_kept, covered);
  for (const auto& r : rejected) EXPECT_TRUE(r.HasMember("removed_by"));
}

TEST_F(RejectionSampling, SameSeedSameSamples) {
  SampleConfig a = config("a"), b = config("b");
  value_or_throw(run_sample(a, nullptr));
  value_or_throw(run_sample(b, nullptr));
  auto ra = read_rows(a.output_dir + "/samples.jsonl"), rb = read_rows(b.output_dir + "/samples.jsonl");
  ASSERT_EQ(ra.size(), rb.size());
  for (size_t i = 0; i < ra.size(); ++i) EXPECT_EQ(json_to_string(ra[i]), json_to_string(rb[i]));
}

TEST_F(RejectionSampling, SystemPromptsBecomeMessageRowsThatRenderTheSame) {
  std::string data = dir_ + "/prompts.jsonl";
  std::ofstream(data) << "{\"prompt\": \"say hi\"}\n{\"prompt\": \"say bye\"}\n";
  SampleConfig c = config("chat");
  c.dataset = R"({"path": ")" + data + R"(", "system_prompt": "be brief", "template": "chatml"})";
  std::string spec = dir_ + "/reward.json";  // the reward spec may be a file
  std::ofstream(spec) << R"([{"checker": "format_lenient"}])";
  c.reward = "\"" + spec + "\"";
  c.filters = "[]";
  SampleReport report = value_or_throw(run_sample(c, nullptr));
  EXPECT_EQ(report.kept, 6);
  auto rows = read_rows(c.output_dir + "/samples.jsonl");
  ASSERT_EQ(rows.size(), 6u);
  ASSERT_TRUE(rows[0]["prompt"].IsArray());
  EXPECT_EQ(std::string(rows[0]["prompt"][0]["role"].GetString()), "system");
  EXPECT_TRUE(rows[0]["components"].HasMember("format_lenient"));
  Tokenizer tok = value_or_throw(Tokenizer::load(model_));
  SftDataOptions o;
  o.chat_template = value_or_throw(parse_chat_template("chatml"));
  auto sft = value_or_throw(load_sft_samples(c.output_dir + "/samples.jsonl", tok, o));
  Example e;
  e.prompt = "say hi";
  e.system = "be brief";
  std::vector<int64_t> prompt_ids = tok.encode(value_or_throw(render_prompt(e, *o.chat_template)));
  EXPECT_EQ(std::vector<int64_t>(sft[0].ids.begin(), sft[0].ids.begin() + prompt_ids.size()), prompt_ids);
  EXPECT_FALSE(sft[0].trained[prompt_ids.size() - 1]);
  EXPECT_TRUE(sft[0].trained[prompt_ids.size()]);
}

TEST_F(RejectionSampling, ConfigErrorsFailBeforeAnythingIsWritten) {
  SampleConfig c = config("bad");
  c.filters = R"([{"filter": "correct", "component": "acc"}])";
  Status s = run_sample(c, nullptr).status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("component 'acc' is not in the reward spec (components: accuracy)"), std::string::npos)
      << s.message();
  c.filters = R"([{"filter": "nope"}])";
  s = run_sample(c, nullptr).status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("filters[0]: unknown filter 'nope'"), std::string::npos) << s.message();
  c = config("bad");
  c.dataset = R"("no_such_set")";
  s = run_sample(c, nullptr).status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'no_such_set' is neither a built-in dataset"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(c.output_dir));
}

}  // namespace
}  // namespace r1
