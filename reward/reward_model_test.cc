#include "reward/reward_model.h"

#include <gtest/gtest.h>

#include "model/model_presets.h"

namespace r1 {
namespace {

Transformer random_reward_model(std::optional<int64_t> pad, int64_t num_labels = 1) {
  ModelConfig c = value_or_throw(preset_config(ModelFamily::qwen2, "tiny"));
  c.vocab_size = 40;
  c.head = ModelHead::sequence_classification;
  c.num_labels = num_labels;
  c.pad_token_id = pad;
  c.initializer_range = 0.2;
  return Transformer::random(c, 3);
}

TEST(RewardModel, PoolsTheLastTokenThatIsNotPadInsideTheRow) {
  // Rows of lengths 4, 2, 3; the batch pads with 0, and pad_token_id is 7.
  TokenBatch b = make_token_batch({{5, 6, 9, 8}, {5, 7}, {7, 7, 7}});
  EXPECT_TRUE(at::equal(pooled_positions(b, 7), at::tensor({3, 0, 0}, at::kLong)));
  EXPECT_TRUE(at::equal(pooled_positions(b, std::nullopt), at::tensor({3, 1, 2}, at::kLong)));
  // pad 0 is also the batch's fill: positions past the length never count.
  EXPECT_TRUE(at::equal(pooled_positions(b, 0), at::tensor({3, 1, 2}, at::kLong)));
}

TEST(RewardModel, BatchedScoresEqualOneRowAtATime) {
  Transformer m = random_reward_model(0);
  ASSERT_TRUE(check_reward_model(m, "m").ok());
  std::vector<std::vector<int64_t>> rows = {{3, 4, 5, 6, 7, 8}, {9, 10}, {11, 12, 13, 0}};
  at::Tensor batched = score_sequences(m, rows, 3);
  ASSERT_EQ(batched.sizes(), at::IntArrayRef({3}));
  EXPECT_EQ(batched.scalar_type(), at::kFloat);
  for (size_t i = 0; i < rows.size(); ++i)
    EXPECT_NEAR(batched[i].item<double>(), score_sequences(m, {rows[i]}, 1)[0].item<double>(), 1e-5) << i;
  // Row 2 ends in the pad id: it is scored at its token 13, as its prefix is.
  EXPECT_NEAR(batched[2].item<double>(), score_sequences(m, {{11, 12, 13}}, 1)[0].item<double>(), 1e-5);
  EXPECT_NE(batched[0].item<double>(), batched[1].item<double>());
}

TEST(RewardModel, ScoresAreDifferentiable) {
  Transformer m = random_reward_model(0);
  for (auto& t : m.parameters()) t.set_requires_grad(true);
  at::Tensor s = reward_model_scores(m, make_token_batch({{3, 4, 5}, {6, 7}}));
  s.sum().backward();
  EXPECT_GT(m.tensors().at("score.weight").grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(m.tensors().at("model.embed_tokens.weight").grad().abs().sum().item<double>(), 0.0);
}

TEST(RewardModel, ConfigRoundTripsTheHead) {
  ModelConfig c = random_reward_model(0).config();
  rapidjson::Document doc = value_or_throw(parse_json(c.to_json(), "config"));
  EXPECT_STREQ(doc["architectures"][0].GetString(), "Qwen2ForSequenceClassification");
  EXPECT_EQ(doc["id2label"].MemberCount(), 1u);
  ModelConfig back = value_or_throw(ModelConfig::from_json(doc, "config"));
  EXPECT_EQ(back.head, ModelHead::sequence_classification);
  EXPECT_EQ(back.num_labels, 1);
}

TEST(RewardModel, WrongModelsAreClearErrors) {
  ModelConfig lm = value_or_throw(preset_config(ModelFamily::qwen2, "tiny"));
  lm.vocab_size = 40;
  EXPECT_EQ(check_reward_model(Transformer::random(lm, 1), "dir").message(),
            "dir: not a reward model: config.json's architectures name a causal LM, not *ForSequenceClassification");
  EXPECT_EQ(check_reward_model(random_reward_model(0, 2), "dir").message(),
            "dir: a reward model has one label; config.json has num_labels 2 (id2label)");
  EXPECT_THROW(random_reward_model(0).lm_head(at::zeros({1, 64})), Error);
  EXPECT_THROW(Transformer::random(lm, 1).score(at::zeros({1, 64})), Error);
  rapidjson::Document doc = value_or_throw(parse_json(R"({"architectures": ["Qwen2ForTokenClassification"],
      "model_type": "qwen2", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
      "num_attention_heads": 2})", "c"));
  EXPECT_EQ(
      ModelConfig::from_json(doc, "c").status().message(),
      "c: architecture 'Qwen2ForTokenClassification' is not supported (*ForCausalLM, *ForSequenceClassification)");
}

}  // namespace
}  // namespace r1
