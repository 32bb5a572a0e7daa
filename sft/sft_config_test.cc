#include "sft/sft_config.h"

#include <gtest/gtest.h>

#include "sft/sft_test_util.h"
#include "util/json.h"

namespace r1 {
namespace {

Result<SFTConfig> parse(const std::string& text) {
  auto doc = parse_json(text, "cfg.json");
  if (!doc.ok()) return doc.status();
  return parse_sft_config(*doc, "cfg.json");
}

// The required keys, then `more` (which closes the object). Appended, not
// `std::string(base) + more`: GCC 12 warns (-Warray-bounds, a false
// positive) on the temporary that operator+ moves.
std::string with_base(std::string_view more) {
  std::string text = R"({"model_name_or_path": "m", "train_file": "t.jsonl", "output_dir": "o")";
  text += more;
  return text;
}

TEST(SFTConfig, DefaultsFollowTrl) {
  SFTConfig c = *parse(with_base("}"));
  EXPECT_EQ(c.learning_rate, 2e-5);
  EXPECT_EQ(c.lr_scheduler_type, "linear");
  EXPECT_TRUE(c.completion_only_loss);
  EXPECT_EQ(c.max_length, 1024);
  EXPECT_EQ(c.compute.device, "auto");
  EXPECT_EQ(c.compute.dtype, "auto");  // float32 for SFT
}

TEST(SFTConfig, DeviceAndDtypeAreTheSharedKeys) {
  SFTConfig c = *parse(with_base(R"(, "device": "cpu", "dtype": "bfloat16"})"));
  EXPECT_EQ(c.compute.device, "cpu");
  EXPECT_EQ(c.compute.dtype, "bfloat16");
  auto half = parse(with_base(R"(, "dtype": "float16"})"));
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("field 'dtype' must be auto, float32 or bfloat16 for training"),
            std::string::npos);
  EXPECT_NE(parse(with_base(R"(, "device": "tpu"})")).status().message().find("field 'device'"), std::string::npos);
}

TEST(SFTConfig, UnknownKeyIsNamed) {
  auto c = parse(with_base(R"(, "learning_rat": 1e-4})"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unknown key 'learning_rat'"), std::string::npos);
}

TEST(SFTConfig, WrongTypesAndValuesAreNamed) {
  auto c = parse(with_base(R"(, "max_steps": 2.5})"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'max_steps' must be an integer"), std::string::npos);
  auto d = parse(with_base(R"(, "lr_scheduler_type": "cosin"})"));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("cosin"), std::string::npos);
  auto e = parse(R"({"train_file": "t.jsonl", "output_dir": "o"})");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("model_name_or_path"), std::string::npos);
}

TEST(SFTConfig, DistillKeysAreCheckedTogether) {
  SFTConfig c = *parse(with_base("}"));
  EXPECT_EQ(c.distill_alpha, 0.0);
  EXPECT_EQ(c.distill_temperature, 1.0);
  EXPECT_TRUE(c.teacher_model_name_or_path.empty());
  c = *parse(with_base(R"(, "teacher_model_name_or_path": "t", "distill_alpha": 0.5, "distill_temperature": 2})"));
  EXPECT_EQ(c.teacher_model_name_or_path, "t");
  EXPECT_EQ(c.distill_alpha, 0.5);
  EXPECT_EQ(c.distill_temperature, 2.0);
  auto no_teacher = parse(with_base(R"(, "distill_alpha": 0.5})"));
  ASSERT_FALSE(no_teacher.ok());
  EXPECT_NE(no_teacher.status().message().find("needs 'teacher_model_name_or_path'"), std::string::npos);
  EXPECT_FALSE(parse(with_base(R"(, "teacher_model_name_or_path": "t", "distill_alpha": 1.5})")).ok());
  EXPECT_FALSE(parse(with_base(R"(, "distill_temperature": 0})")).ok());
}

TEST(SFTConfig, OverridesReplaceKeysWithTypedValues) {
  std::string dir = sft_temp_dir("config");
  ASSERT_TRUE(write_file_atomic(dir + "/c.json", with_base(R"(, "max_steps": 5})")).ok());
  SFTConfig c = *load_sft_config(dir + "/c.json", {"max_steps=7", "packing=true", "output_dir=elsewhere",
                                                   "learning_rate=0.001"});
  EXPECT_EQ(c.max_steps, 7);
  EXPECT_TRUE(c.packing);
  EXPECT_EQ(c.output_dir, "elsewhere");
  EXPECT_EQ(c.learning_rate, 1e-3);
  auto bad = load_sft_config(dir + "/c.json", {"nonsense"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("key=value"), std::string::npos);
  auto unknown = load_sft_config(dir + "/c.json", {"epochs=2"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'epochs'"), std::string::npos);
  // The written config parses back to the same values.
  auto doc = parse_json(sft_config_json(c), "out");
  EXPECT_EQ(sft_config_json(*parse_sft_config(*doc, "out")), sft_config_json(c));
}

}  // namespace
}  // namespace r1
