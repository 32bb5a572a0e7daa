#include "data/jsonl_dataset.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace r1 {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/r1_data_" + name;
  std::ofstream(path) << text;
  return path;
}

DatasetSpec gsm_spec(const std::string& path) {
  DatasetSpec s;
  s.path = path;
  s.prompt_field = "question";
  s.answer_field = "answer";
  s.answer_extractor = "gsm8k";
  return s;
}

TEST(Dataset, MapsFieldsAndExtractsGsm8kAnswers) {
  std::string path = write_temp("map.jsonl",
                                "{\"question\": \"q1\", \"answer\": \"a\\n#### 1,000\", \"level\": 3}\n\n"
                                "{\"question\": \"q2\", \"answer\": \"b #### -7\", \"level\": 4}\n");
  Result<Dataset> ds = load_dataset(gsm_spec(path));
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  ASSERT_EQ(ds->examples.size(), 2u);
  const Example& e = ds->examples[1];
  EXPECT_EQ(e.index, 1);
  EXPECT_EQ(e.prompt, "q2");
  EXPECT_EQ(e.answer, "-7");
  EXPECT_EQ(ds->examples[0].answer, "1000");
  EXPECT_EQ(e.id, "r1_data_map-1");
  EXPECT_EQ(e.where, path + ":3");  // the blank line still counts
  rapidjson::Document ref = value_or_throw(reference_document(e));
  EXPECT_FALSE(ref.HasMember("question"));
  EXPECT_EQ(std::string(ref["answer"].GetString()), "-7");
  EXPECT_EQ(ref["level"].GetInt(), 4);
}

TEST(Dataset, KeepsOnlyListedReferenceFieldsAndReadsIds) {
  std::string path = write_temp("ref.jsonl", "{\"id\": 17, \"prompt\": \"p\", \"tests\": [1], \"junk\": \"x\", "
                                             "\"answer\": 2.5}\n");
  DatasetSpec s;
  s.path = path;
  s.id_field = "id";
  s.answer_field = "answer";
  s.reference_fields = std::vector<std::string>{"tests", "prompt"};
  Dataset ds = value_or_throw(load_dataset(s));
  const Example& e = ds.examples[0];
  EXPECT_EQ(e.id, "17");
  EXPECT_EQ(e.answer, "2.5");
  rapidjson::Document ref = value_or_throw(reference_document(e));
  EXPECT_TRUE(ref.HasMember("tests"));
  EXPECT_TRUE(ref.HasMember("prompt"));
  EXPECT_FALSE(ref.HasMember("junk"));
  EXPECT_TRUE(ref["answer"].IsNumber());  // no extractor: the value is kept as is
}

void expect_error(const DatasetSpec& spec, const std::vector<std::string>& parts) {
  Result<Dataset> ds = load_dataset(spec);
  ASSERT_FALSE(ds.ok());
  for (const auto& p : parts) EXPECT_NE(ds.status().message().find(p), std::string::npos) << ds.status().message();
}

TEST(Dataset, ErrorsNameFileLineAndField) {
  std::string missing = write_temp("missing.jsonl", "{\"question\": \"q\", \"answer\": \"#### 1\"}\n"
                                                    "{\"answer\": \"#### 2\"}\n");
  expect_error(gsm_spec(missing), {missing + ":2: field 'question' is missing (the row has 'answer'; a dataset spec "
                                              "names the prompt's field: {\"path\": ..., \"prompt_field\": ...}"});
  std::string typed = write_temp("typed.jsonl", "{\"question\": 5, \"answer\": \"#### 2\"}\n");
  expect_error(gsm_spec(typed), {typed + ":1", "'question'", "must be a string"});
  std::string no_hashes = write_temp("nohash.jsonl", "{\"question\": \"q\", \"answer\": \"42\"}\n");
  expect_error(gsm_spec(no_hashes), {no_hashes + ":1", "'answer'", "gsm8k"});
  std::string bad_json = write_temp("badjson.jsonl", "{\"question\": \"q\", \"answer\": \"#### 1\"}\n{oops\n");
  expect_error(gsm_spec(bad_json), {bad_json + ":2"});
  DatasetSpec ref = gsm_spec(missing);
  ref.reference_fields = std::vector<std::string>{"tests"};
  expect_error(ref, {missing + ":1", "reference field 'tests'"});
  DatasetSpec id = gsm_spec(typed);
  id.prompt_field = "answer";
  id.answer_extractor = "none";
  id.id_field = "nope";
  expect_error(id, {typed + ":1", "'nope'"});
}

TEST(Dataset, EmptyFileIsAnError) {
  std::string empty = write_temp("empty.jsonl", "\n\n");
  expect_error(gsm_spec(empty), {empty, "no rows"});
  expect_error(gsm_spec(::testing::TempDir() + "/r1_data_absent.jsonl"), {"r1_data_absent.jsonl"});
}

Result<DatasetSpec> spec_from(const std::string& json) {
  rapidjson::Document doc = value_or_throw(parse_json(json, "spec.json"));
  return parse_dataset_spec(doc, "spec.json");
}

TEST(DatasetSpec, ParsesAndRejectsUnknownKeys) {
  DatasetSpec s =
      value_or_throw(spec_from(R"({"path": "x.jsonl", "name": "mine", "prompt_field": "q", "answer_field": "a",
      "reference_fields": ["a", "b"], "template": "chatml", "system_prompt": "Be brief.", "answer_extractor": "boxed"})"));
  EXPECT_EQ(s.prompt_field, "q");
  EXPECT_EQ(s.name, "mine");
  EXPECT_EQ(*s.answer_field, "a");
  EXPECT_EQ(s.reference_fields->size(), 2u);
  EXPECT_EQ(s.system_prompt, "Be brief.");
  auto error_of = [](const std::string& json) { return spec_from(json).status().message(); };
  EXPECT_NE(error_of(R"({"path": "x", "promt_field": "q"})").find("unknown key 'promt_field'"), std::string::npos);
  EXPECT_NE(error_of(R"({"prompt_field": "q"})").find("'path'"), std::string::npos);
  EXPECT_NE(error_of(R"({"path": "x", "template": "alpaca"})").find("unknown template 'alpaca'"), std::string::npos);
  EXPECT_NE(error_of(R"({"path": "x", "answer_field": "a", "answer_extractor": "last"})").find("'last'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"path": "x", "answer_extractor": "gsm8k"})").find("answer_field"), std::string::npos);
  EXPECT_NE(error_of(R"({"path": "x", "system_prompt": "s"})").find("system_prompt"), std::string::npos);
  EXPECT_NE(error_of(R"({"path": "x", "reference_fields": "a"})").find("reference_fields"), std::string::npos);
}

TEST(RenderPrompt, UsesTheTemplate) {
  Example e;
  e.prompt = "What is 2+2?";
  ChatTemplate r1z = value_or_throw(parse_chat_template("r1_zero"));
  EXPECT_EQ(value_or_throw(render_prompt(e, r1z)), std::string(kR1ZeroPrefix) + e.prompt + kR1ZeroSuffix);
  EXPECT_EQ(value_or_throw(render_prompt(e, std::optional<ChatTemplate>())), e.prompt);
  e.system = "Be brief.";
  ChatTemplate chatml = value_or_throw(parse_chat_template("chatml"));
  EXPECT_EQ(value_or_throw(render_prompt(e, chatml)),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_FALSE(render_prompt(e, r1z).ok());
  EXPECT_FALSE(render_prompt(e, std::optional<ChatTemplate>()).ok());
}

TEST(ExtractAnswer, BoxedTakesTheLastBalancedGroup) {
  auto boxed = [](const std::string& t) { return value_or_throw(extract_answer("boxed", t)); };
  EXPECT_EQ(*boxed("so \\boxed{1} then \\boxed{\\frac{a}{b}}."), "\\frac{a}{b}");
  EXPECT_FALSE(boxed("\\boxed{open").has_value());
  EXPECT_FALSE(boxed("none").has_value());
  EXPECT_FALSE(extract_answer("nope", "x").ok());
}

bool shared_data_present() { return std::filesystem::exists(data_root() + "/gsm8k/test.jsonl"); }

TEST(Builtin, SharedSetsLoadWithTheirMappings) {
  if (!shared_data_present()) GTEST_SKIP() << "no shared data at " << data_root();
  struct Want {
    const char* name;
    size_t rows;
  };
  for (Want w : {Want{"gsm8k", 7473}, Want{"gsm8k_test", 1319}, Want{"math500", 500}, Want{"aime24", 30},
                 Want{"amc23", 40}, Want{"minerva_math", 272}, Want{"humaneval", 164}}) {
    Result<Dataset> ds = load_dataset(value_or_throw(builtin_dataset_spec(w.name)));
    ASSERT_TRUE(ds.ok()) << w.name << ": " << ds.status().message();
    EXPECT_EQ(ds->examples.size(), w.rows) << w.name;
    for (const Example& e : ds->examples) {
      ASSERT_FALSE(e.prompt.empty()) << e.where;
      ASSERT_EQ(e.id.rfind(std::string(w.name) + "-", 0) == 0, !ds->spec.id_field) << e.id;
      if (ds->spec.answer_field) {
        ASSERT_FALSE(e.answer.empty()) << e.where;
      }
      ASSERT_TRUE(reference_document(e).ok()) << e.where;
    }
  }
  EXPECT_FALSE(builtin_dataset_spec("gsm9k").ok());
}

TEST(Builtin, Gsm8kAnswersAreTheFinalNumbers) {
  if (!shared_data_present()) GTEST_SKIP() << "no shared data at " << data_root();
  Dataset ds = value_or_throw(load_dataset(value_or_throw(builtin_dataset_spec("gsm8k_test"))));
  for (const Example& e : ds.examples) {
    ASSERT_EQ(e.answer.find_first_not_of("-0123456789."), std::string::npos) << e.where << ": " << e.answer;
  }
}

TEST(Builtin, DataRootFollowsTheEnvironment) {
  setenv("R1_DATA_DIR", "/some/where", 1);
  EXPECT_EQ(value_or_throw(builtin_dataset_spec("math500")).path, "/some/where/math500/test.jsonl");
  unsetenv("R1_DATA_DIR");
  EXPECT_NE(data_root(), "/some/where");
}

}  // namespace
}  // namespace r1
