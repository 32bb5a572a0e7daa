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


// As transformers 5 writes a DeepseekV3Config (abridged), with YaRN and q-LoRA null.
const char* kDeepseekV3 = R"({"model_type": "deepseek_v3", "vocab_size": 100, "hidden_size": 64,
  "intermediate_size": 96, "moe_intermediate_size": 24, "num_hidden_layers": 3, "num_attention_heads": 4,
  "num_key_value_heads": 4, "head_dim": 8, "kv_lora_rank": 32, "q_lora_rank": null, "qk_nope_head_dim": 16,
  "qk_rope_head_dim": 8, "v_head_dim": 16, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_group": 4,
  "topk_group": 2, "first_k_dense_replace": 1, "n_shared_experts": 1, "num_nextn_predict_layers": 1,
  "rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 40.0, "mscale": 1.0,
  "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1}})";

TEST(ModelConfig, ReadsDeepseekV3AndRoundTripsThroughJson) {
  auto c = parse(kDeepseekV3);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->is_mla());
  EXPECT_EQ(c->mla.q_lora_rank, 0);
  EXPECT_EQ(c->head_dim, 8);  // the rope width, as transformers sets it
  EXPECT_TRUE(c->mla.rope_interleave);
  // transformers' DeepseekV3Config defaults for the keys left out
  EXPECT_EQ(c->moe.scoring_func, "sigmoid");
  EXPECT_EQ(c->moe.topk_method, "noaux_tc");
  EXPECT_TRUE(c->moe.norm_topk_prob);
  EXPECT_EQ(c->moe.routed_scaling_factor, 2.5);
  EXPECT_FALSE(c->moe.moe_layer(0));
  EXPECT_TRUE(c->moe.moe_layer(1));
  EXPECT_EQ(c->rope_scaling.type, "yarn");
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 4096);
  EXPECT_EQ(c->num_nextn_predict_layers, 1);
  auto again = parse(c->to_json());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->to_json(), c->to_json());
  EXPECT_EQ(again->num_nextn_predict_layers, 0);  // the MTP layers are never saved
}

TEST(ModelConfig, DeepseekErrorsNameTheField) {
  auto error = [](const std::string& from, const std::string& to) {
    std::string text = kDeepseekV3;
    text.replace(text.find(from), from.size(), to);
    return parse(text).status().message();
  };
  EXPECT_NE(error("\"n_group\": 4", "\"n_group\": 4, \"scoring_func\": \"softmax\"")
                .find("field 'scoring_func' must be \"sigmoid\" for deepseek_v3"),
            std::string::npos);
  EXPECT_NE(error("\"n_group\": 4", "\"n_group\": 4, \"topk_method\": \"greedy\"")
                .find("field 'topk_method' must be \"noaux_tc\""),
            std::string::npos);
  EXPECT_NE(error("\"rope_type\": \"yarn\"", "\"rope_type\": \"longrope\"")
                .find("rope type 'longrope' is not supported"),
            std::string::npos);
  EXPECT_NE(error("\"kv_lora_rank\": 32, ", "").find("field 'kv_lora_rank' is missing"), std::string::npos);
  EXPECT_NE(error("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 2").find("field 'num_key_value_heads'"),
            std::string::npos);
}

TEST(ModelConfig, DeepseekV2DefaultsToSoftmaxGreedyRouting) {
  std::string text = kDeepseekV3;
  text.replace(text.find("deepseek_v3"), 11, "deepseek_v2");
  auto c = parse(text);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->moe.scoring_func, "softmax");
  EXPECT_EQ(c->moe.topk_method, "greedy");
  EXPECT_EQ(c->moe.n_group, 1);  // only group_limited_greedy reads the groups
  EXPECT_FALSE(c->moe.norm_topk_prob);
}

}  // namespace
}  // namespace r1
