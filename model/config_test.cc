#include "model/config.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

const char* kQwen2 = R"({"model_type": "qwen2", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "rope_theta": 10000.0,
  "eos_token_id": [5, 6], "tie_word_embeddings": true})";

Result<ModelConfig> parse(const std::string& text) {
  auto doc = parse_json(text, "config.json");
  if (!doc.ok()) return doc.status();
  return ModelConfig::from_json(*doc, "config.json");
}

TEST(ModelConfig, ParsesQwen2AndRoundTripsThroughJson) {
  auto c = parse(kQwen2);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int64_t>{5, 6}));
  auto again = parse(c->to_json());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->to_json(), c->to_json());
}

TEST(ModelConfig, MissingFieldIsNamed) {
  std::string text = kQwen2;
  text.replace(text.find("\"hidden_size\": 64, "), 19, "");
  auto c = parse(text);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "config.json: field 'hidden_size' is missing");
}

TEST(ModelConfig, RejectsInconsistentOrUnsupportedSettings) {
  std::string heads = kQwen2;
  heads.replace(heads.find("\"num_key_value_heads\": 2"), 24, "\"num_key_value_heads\": 3");
  EXPECT_NE(parse(heads).status().message().find("multiple of num_key_value_heads"), std::string::npos);
  std::string family = kQwen2;
  family.replace(family.find("qwen2"), 5, "gpt2x");
  EXPECT_NE(parse(family).status().message().find("model_type 'gpt2x' is not supported"), std::string::npos);
  std::string rope = kQwen2;
  rope.insert(1, R"("rope_scaling": {"type": "yarn", "factor": 4.0}, )");
  EXPECT_NE(parse(rope).status().message().find("rope type 'yarn' is not supported"), std::string::npos);
}

TEST(ModelConfig, ReadsTransformers5RopeParameters) {
  std::string text = kQwen2;
  text.insert(1, R"("rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}, )");
  auto c = parse(text);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->rope_scaling.type, "llama3");
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 64);
}

}  // namespace
}  // namespace r1
