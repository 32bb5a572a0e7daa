#include "data/dataset_source.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace r1 {
namespace {

Result<Dataset> load(const std::string& json) {
  auto doc = parse_json(json, "test");
  if (!doc.ok()) return doc.status();
  return load_dataset_source(*doc, "cfg.json: field 'dataset'");
}

TEST(DatasetSource, TaskNameWithSplit) {
  auto ds = load(R"("countdown:heldout")");
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ(ds->examples.size(), 1000u);
  EXPECT_EQ(ds->spec.template_name, "r1_zero");
  TaskOptions heldout;
  heldout.split = "heldout";
  auto problems = generate_tasks(heldout);
  ASSERT_TRUE(problems.ok());
  EXPECT_EQ(ds->examples[7].id, (*problems)[7].id);
  EXPECT_NE(ds->examples[0].reference_json.find("\"target\""), std::string::npos);
}

TEST(DatasetSource, TaskObjectOptions) {
  auto ds = load(R"({"task": "arithmetic", "n": 12, "seed": 3, "max_digits": 2, "ops": "+"})");
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  ASSERT_EQ(ds->examples.size(), 12u);
  EXPECT_EQ(ds->examples[0].prompt.find('*'), std::string::npos);
  EXPECT_FALSE(ds->examples[0].answer.empty());
  EXPECT_EQ(default_reward_spec(*ds), R"({"rewards": [{"checker": "math", "name": "accuracy"}]})");
}

TEST(DatasetSource, TaskOptionsJsonReadsBackTheSame) {
  rapidjson::Document doc =
      value_or_throw(parse_json(R"({"task": "arithmetic", "n": 12, "seed": 3, "ops": "+"})", "t"));
  TaskOptions t = value_or_throw(parse_task_options(doc, "t"));
  std::string once = task_options_json(t);
  rapidjson::Document again = value_or_throw(parse_json(once, "once"));
  EXPECT_EQ(task_options_json(value_or_throw(parse_task_options(again, "once"))), once);
  EXPECT_NE(once.find(R"("ops":"+")"), std::string::npos);
  EXPECT_NE(once.find(R"("seed":3)"), std::string::npos);
}

TEST(DatasetSource, ErrorsNameTheKey) {
  auto unknown = load(R"({"task": "countdown", "numbrs": 3})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("cfg.json: field 'dataset': unknown task key 'numbrs'"),
            std::string::npos)
      << unknown.status().message();
  auto bad_split = load(R"("arithmetic:test")");
  ASSERT_FALSE(bad_split.ok());
  EXPECT_NE(bad_split.status().message().find("unknown split 'test'"), std::string::npos);
  auto nothing = load(R"("no_such_set")");
  ASSERT_FALSE(nothing.ok());
  EXPECT_NE(nothing.status().message().find("'no_such_set' is neither a built-in dataset"), std::string::npos);
  EXPECT_FALSE(load("42").ok());
}

TEST(DatasetSource, JsonlPathAndSpecObject) {
  std::string path = (std::filesystem::temp_directory_path() / "r1_dataset_source_test.jsonl").string();
  std::ofstream(path) << R"({"prompt": "2+2?", "answer": "4"})" << "\n"
                      << R"({"prompt": "3+3?", "answer": "6"})" << "\n";
  auto by_path = load("\"" + path + "\"");
  ASSERT_TRUE(by_path.ok()) << by_path.status().message();
  EXPECT_EQ(by_path->examples.size(), 2u);
  auto by_spec = load(R"({"path": ")" + path + R"(", "answer_field": "answer", "template": "chatml"})");
  ASSERT_TRUE(by_spec.ok()) << by_spec.status().message();
  EXPECT_EQ(by_spec->examples[1].answer, "6");
  EXPECT_EQ(by_spec->spec.template_name, "chatml");
  std::filesystem::remove(path);
}

TEST(DatasetSource, SharedSetByName) {
  auto ds = load(R"("gsm8k_test")");
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_GT(ds->examples.size(), 1000u);
  EXPECT_EQ(default_reward_spec(*ds), R"({"rewards": [{"checker": "gsm8k", "name": "accuracy"}]})");
}

}  // namespace
}  // namespace r1
