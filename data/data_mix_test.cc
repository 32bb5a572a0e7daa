#include "data/data_mix.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/dataset_source.h"
#include "data/jsonl_dataset.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("r1_data_mix_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

DataMixConfig config(const std::string& parts, const fs::path& out) {
  rapidjson::Document doc = value_or_throw(parse_json(
      R"({"parts": )" + parts + R"(, "output_dir": ")" + out.string() + R"("})", "test config"));
  return value_or_throw(data_mix_config_fields().parse(doc, "test config"));
}

std::vector<std::string> lines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(DataMix, FileRowsThenTaskRowsInPartOrder) {
  fs::path dir = fresh_dir("order");
  std::ofstream(dir / "a.jsonl")
      << "{\"prompt\": \"p1\", \"completion\": \" c1\"}\n\n{\"prompt\":\"p2\",\"completion\":\" c2\"}\n";
  DataMixConfig c = config(R"([")" + (dir / "a.jsonl").string() +
                               R"(", {"task": "arithmetic", "kind": "general", "n": 3, "seed": 1, "form": "sft"}])",
                           dir / "out");
  DataMixSummary s = value_or_throw(run_data_mix(c));
  EXPECT_EQ(s.part_rows, (std::vector<int64_t>{2, 3}));
  std::vector<std::string> rows = lines(s.file);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0], R"({"prompt":"p1","completion":" c1"})");
  rapidjson::Document last = value_or_throw(parse_json(rows[4], "row"));
  EXPECT_EQ(std::string(last["kind"].GetString()), "general");
  EXPECT_TRUE(last.HasMember("completion"));
}

// A dataset part: examples of any source as rows that load back (id and
// answer fields named) to the same ids, prompts and answers, with `fields`
// set on each. With the default mapping the reference fields, "answer"
// among them, are all there too.
TEST(DataMix, DatasetPartsLoadBackWithTheirFields) {
  fs::path dir = fresh_dir("dataset");
  std::ofstream(dir / "qa.jsonl") << "{\"question\": \"2 + 2?\", \"solution\": \"so #### 4\"}\n";
  std::string spec = R"({"path": ")" + (dir / "qa.jsonl").string() +
                     R"(", "prompt_field": "question", "answer_field": "solution", "answer_extractor": "gsm8k"})";
  DataMixConfig c = config(R"([{"dataset": {"task": "arithmetic", "n": 3, "seed": 2}, "fields": {"kind": "x"}},
                                {"dataset": )" + spec + R"(, "fields": {"kind": "reasoning", "source": 7}}])",
                           dir / "out");
  DataMixSummary s = value_or_throw(run_data_mix(c));
  EXPECT_EQ(s.part_rows, (std::vector<int64_t>{3, 1}));
  rapidjson::Document mixed = value_or_throw(
      parse_json(R"({"path": ")" + s.file + R"(", "id_field": "id", "answer_field": "answer"})", "spec"));
  Dataset loaded = value_or_throw(load_dataset_source(mixed, "mixed"));
  rapidjson::Document task = value_or_throw(parse_json(R"({"task": "arithmetic", "n": 3, "seed": 2})", "task"));
  Dataset original = value_or_throw(load_dataset_source(task, "task"));
  ASSERT_EQ(loaded.examples.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(loaded.examples[i].prompt, original.examples[i].prompt);
    EXPECT_EQ(loaded.examples[i].id, original.examples[i].id);
    EXPECT_EQ(loaded.examples[i].answer, original.examples[i].answer);
    rapidjson::Document ref = value_or_throw(reference_document(loaded.examples[i]));
    EXPECT_EQ(std::string(ref["kind"].GetString()), "x");  // `fields` override the task's own "kind"
  }
  EXPECT_EQ(loaded.examples[3].prompt, "2 + 2?");
  EXPECT_EQ(loaded.examples[3].answer, "4");
  rapidjson::Document ref = value_or_throw(reference_document(loaded.examples[3]));
  EXPECT_EQ(ref["source"].GetInt(), 7);
  Status unknown = check_data_mix_inputs(config(R"([{"dataset": "gsm8k", "field": {}}])", dir), true);
  EXPECT_NE(unknown.message().find("unknown key 'field' in a dataset part"), std::string::npos) << unknown.message();
}

TEST(DataMix, BadPartsNameThePartAndWriteNothing) {
  fs::path dir = fresh_dir("bad");
  std::ofstream(dir / "broken.jsonl") << "{\"prompt\": \"ok\"}\n[1, 2]\n";
  DataMixConfig c = config(R"([{"task": "arithmetic", "n": 2, "form": "rows"}, ")" + (dir / "broken.jsonl").string() +
                               R"("])",
                           dir / "out");
  Result<DataMixSummary> s = run_data_mix(c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("parts[1]"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("broken.jsonl:2"), std::string::npos) << s.status().message();
  EXPECT_FALSE(fs::exists(dir / "out" / "data.jsonl"));

  EXPECT_NE(check_data_mix_inputs(config(R"(["/nonexistent/x.jsonl"])", dir), true).message().find("no such file"),
            std::string::npos);
  EXPECT_TRUE(check_data_mix_inputs(config(R"(["/nonexistent/x.jsonl"])", dir), false).ok());
  Status form = check_data_mix_inputs(config(R"([{"task": "arithmetic", "n": 2, "form": "pairs"}])", dir), true);
  EXPECT_NE(form.message().find("parts[0]: task form 'pairs'"), std::string::npos) << form.message();
  rapidjson::Document empty = value_or_throw(parse_json(R"({"parts": [], "output_dir": "x"})", "c"));
  // An empty list is an unset required key (ConfigFields::required(); the
  // message was "must name at least one part").
  EXPECT_EQ(data_mix_config_fields().parse(empty, "c").status().message().rfind("c: field 'parts' is required: ", 0),
            0u);
}

}  // namespace
}  // namespace r1
