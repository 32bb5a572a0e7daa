#include "distill/sample_config.h"

#include <gtest/gtest.h>

#include "util/file.h"
#include "util/json.h"

namespace r1 {
namespace {

Result<SampleConfig> parse(const std::string& json) {
  rapidjson::Document doc = value_or_throw(parse_json(json, "test"));
  return parse_sample_config(doc, "cfg.json");
}

std::string error_of(const std::string& json) {
  Result<SampleConfig> c = parse(json);
  EXPECT_FALSE(c.ok()) << json;
  return c.ok() ? "" : c.status().message();
}

const char* kMinimal = R"({"model": "m", "dataset": "countdown", "output_dir": "out")";

TEST(SampleConfig, DefaultsAndStructuredKeys) {
  SampleConfig c = value_or_throw(parse(std::string(kMinimal) + "}"));
  EXPECT_EQ(c.samples_per_prompt, 4);
  EXPECT_DOUBLE_EQ(c.temperature, 0.6);
  EXPECT_DOUBLE_EQ(c.top_p, 0.95);
  EXPECT_EQ(c.dataset, "\"countdown\"");
  EXPECT_TRUE(c.reward.empty());
  EXPECT_TRUE(c.filters.empty());
  c = value_or_throw(parse(R"({"model": "m", "output_dir": "o", "dataset": {"task": "arithmetic", "n": 8, "seed": 3},
      "reward": [{"checker": "format"}], "filters": [{"filter": "dedup"}], "stop": ["</answer>"]})"));
  EXPECT_EQ(c.dataset, R"({"task":"arithmetic","n":8,"seed":3})");
  EXPECT_EQ(c.filters, R"([{"filter":"dedup"}])");
  EXPECT_EQ(c.stop, (std::vector<std::string>{"</answer>"}));
  // The config round-trips through its JSON form.
  rapidjson::Document again = value_or_throw(parse_json(sample_config_json(c), "json"));
  SampleConfig d = value_or_throw(parse_sample_config(again, "json"));
  EXPECT_EQ(d.dataset, c.dataset);
  EXPECT_EQ(d.reward, c.reward);
  EXPECT_EQ(d.filters, c.filters);
  EXPECT_EQ(d.stop, c.stop);
  // transformers' name for the key is read as an alias of it.
  SampleConfig e = value_or_throw(parse(std::string(kMinimal) + R"(, "stop_strings": ["\n\n"]})"));
  EXPECT_EQ(e.stop, (std::vector<std::string>{"\n\n"}));
  EXPECT_NE(error_of(std::string(kMinimal) + R"(, "stop_strings": "x"})").find("field 'stop_strings' must be a list"),
            std::string::npos);
}

TEST(SampleConfig, ErrorsNameTheKey) {
  EXPECT_NE(error_of(std::string(kMinimal) + R"(, "sampels_per_prompt": 2})")
                .find("cfg.json: unknown key 'sampels_per_prompt'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"dataset": "countdown", "output_dir": "o"})").find("field 'model' is required"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + R"(, "top_p": 0})").find("field 'top_p'"), std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + R"(, "samples_per_prompt": "4"})")
                .find("'samples_per_prompt' must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + R"(, "template": "jinja"})").find("field 'template'"), std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + R"(, "dtype": "half"})").find("cfg.json: field 'dtype': must be auto"),
            std::string::npos);
}

TEST(SampleConfig, UnknownFiltersDatasetsAndCheckersAreNamed) {
  std::string e = error_of(std::string(kMinimal) + R"(, "filters": [{"filter": "dedup"}, {"filter": "no_such"}]})");
  EXPECT_NE(e.find("cfg.json: filters[1]: unknown filter 'no_such'"), std::string::npos) << e;
  e = error_of(R"({"model": "m", "output_dir": "o", "dataset": {"task": "countdown", "nn": 3}})");
  EXPECT_NE(e.find("cfg.json: field 'dataset': unknown task key 'nn'"), std::string::npos) << e;
  e = error_of(R"({"model": "m", "output_dir": "o", "dataset": {"path": "x.jsonl", "promt_field": "q"}})");
  EXPECT_NE(e.find("unknown key 'promt_field'"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) + R"(, "reward": {"rewards": [{"checker": "nope"}]}})");
  EXPECT_NE(e.find("nope"), std::string::npos) << e;
}

TEST(SampleConfig, SetOverridesKeysWithTypedValues) {
  std::string path = std::string(::testing::TempDir()) + "/distill_sample_config.json";
  throw_if_error(write_file_atomic(path, std::string(kMinimal) + "}"));
  SampleConfig c = value_or_throw(load_sample_config(
      path, {"samples_per_prompt=8", "model=other", R"(filters=[{"filter": "not_truncated"}])",
             R"(dataset={"task": "countdown", "n": 5})"}));
  EXPECT_EQ(c.samples_per_prompt, 8);
  EXPECT_EQ(c.model, "other");
  EXPECT_EQ(c.filters, R"([{"filter":"not_truncated"}])");
  EXPECT_EQ(c.dataset, R"({"task":"countdown","n":5})");
  Status bad = load_sample_config(path, {"filters=[{\"filter\": \"x\"}]"}).status();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("(with --set): filters[0]: unknown filter 'x'"), std::string::npos) << bad.message();
  EXPECT_FALSE(load_sample_config(path, {"novalue"}).ok());
}

}  // namespace
}  // namespace r1
