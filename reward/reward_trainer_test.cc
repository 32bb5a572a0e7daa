#include "reward/reward_trainer.h"

#include <gtest/gtest.h>

#include <fstream>

#include "model/safetensors.h"
#include "reward/reward_model.h"
#include "sft/sft_test_util.h"

namespace r1 {
namespace {

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const auto& l : lines) out << l << "\n";
}

TEST(RewardTrainer, ACausalLmGetsAFreshScoreHead) {
  std::string dir = sft_temp_dir("rm_head");
  Transformer lm = value_or_throw(Transformer::load(write_tiny_model(dir, 1), {.trainable = true}));
  Transformer rm = value_or_throw(as_reward_model(lm, 7));
  ASSERT_TRUE(check_reward_model(rm, "rm").ok());
  EXPECT_EQ(rm.tensors().count("lm_head.weight"), 0u);
  EXPECT_EQ(rm.tensors().at("score.weight").sizes(), at::IntArrayRef({1, 64}));
  EXPECT_TRUE(rm.tensors().at("score.weight").requires_grad());
  for (const auto& [name, t] : lm.tensors()) {
    if (name != "lm_head.weight") {
      EXPECT_TRUE(at::equal(rm.tensors().at(name), t)) << name;
    }
  }
  EXPECT_EQ(rm.config().pad_token_id, lm.config().pad_token_id);
  // A reward model passes through as it is.
  Transformer again = value_or_throw(as_reward_model(rm, 8));
  EXPECT_TRUE(at::equal(again.tensors().at("score.weight"), rm.tensors().at("score.weight")));
}

TEST(RewardTrainer, PreferencePairsInEveryTrlForm) {
  std::string dir = sft_temp_dir("rm_pairs");
  std::string model = write_tiny_model(dir, 1);
  Tokenizer tok = value_or_throw(Tokenizer::load(model));
  ChatTemplate chatml = value_or_throw(parse_chat_template("chatml"));
  PreferenceDataOptions o{.chat_template = chatml, .eos_id = 3, .max_length = 40, .vocab_size = tok.vocab_size()};
  std::string path = dir + "/pairs.jsonl";
  write_lines(path, {
      R"({"chosen": "good", "rejected": "bad", "margin": 1.5})",
      R"({"prompt": "Q: ", "chosen": "yes", "rejected": "no", "margin": 0})",
      R"({"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hello"}], )"
      R"("rejected": [{"role": "assistant", "content": "go"}], "margin": 2})",
      R"({"chosen_ids": [5, 6], "rejected_ids": [7], "margin": 0.5})",
      R"({"chosen": "this side is far longer than forty tokens, so the pair is left out", )"
      R"("rejected": "x", "margin": 0})",
  });
  PreferenceData d = value_or_throw(load_preference_pairs(path, tok, o));
  ASSERT_EQ(d.pairs.size(), 4u);
  EXPECT_EQ(d.too_long, 1);
  auto with_eos = [&](const std::string& text) {
    std::vector<int64_t> ids = tok.encode_with_special_tokens(text);
    ids.push_back(3);
    return ids;
  };
  EXPECT_EQ(d.pairs[0].chosen, with_eos("good"));
  EXPECT_EQ(*d.pairs[0].margin, 1.5);
  EXPECT_EQ(d.pairs[1].rejected, with_eos("Q: no"));
  std::string rendered = value_or_throw(render_chat(chatml, {{"user", "hi"}, {"assistant", "hello"}}, false));
  EXPECT_EQ(d.pairs[2].chosen, tok.encode(rendered));
  EXPECT_EQ(d.pairs[3].chosen, (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(d.pairs[3].rejected, (std::vector<int64_t>{7}));
}

TEST(RewardTrainer, BadPairsAreErrorsNamingTheLine) {
  std::string dir = sft_temp_dir("rm_bad");
  Tokenizer tok = value_or_throw(Tokenizer::load(write_tiny_model(dir, 1)));
  std::string path = dir + "/pairs.jsonl";
  PreferenceDataOptions o;
  o.vocab_size = 300;
  auto error = [&](const std::vector<std::string>& lines) {
    write_lines(path, lines);
    return load_preference_pairs(path, tok, o).status().message();
  };
  EXPECT_EQ(error({R"({"chosen": "a"})"}), path + ":1: field 'rejected' is missing");
  EXPECT_EQ(error({R"({"chosen": "a", "rejected": "b", "margin": 1})", R"({"chosen": "a", "rejected": "b"})"}),
            path + ":2: field 'margin' must be on every row or on none (the first row has margin)");
  EXPECT_EQ(error({R"({"chosen": [{"role": "user", "content": "a"}], "rejected": "b"})"}),
            path + ":1: conversational rows need a chat template (field 'chat_template')");
  EXPECT_EQ(error({R"({"chosen_ids": [1, 999], "rejected_ids": [2]})"}),
            path + ":1: chosen token id 999 is outside the vocabulary [0, 300)");
  EXPECT_EQ(error({R"({"chosen_ids": [], "rejected_ids": [2]})"}), path + ":1: the chosen sequence has no tokens");
}

// One optimizer step over 4 pairs: one micro-batch of 4 or two of 2 give the
// same weights (the loss is the mean over the step's pairs either way).
TEST(RewardTrainer, MicroBatchSplitLeavesTheStepUnchanged) {
  std::string dir = sft_temp_dir("rm_split");
  RewardConfig c;
  c.model_name_or_path = write_tiny_model(dir, 1);
  c.train_file = dir + "/pairs.jsonl";
  write_lines(c.train_file, {R"({"chosen": "12 + 5 = 17", "rejected": "12 + 5 = 71"})",
                             R"({"chosen": "3 + 4 = 7", "rejected": "3 + 4 = 9"})",
                             R"({"chosen": "20 + 2 = 22", "rejected": "20 + 2 = 2"})",
                             R"({"chosen": "9 + 9 = 18", "rejected": "9 + 9 = 81"})"});
  c.max_steps = 1;
  c.save_steps = 0;
  c.learning_rate = 1e-3;
  c.center_rewards_coefficient = 0.1;
  c.adam_epsilon = 1.0;  // the update is then about lr * gradient: rounding noise cannot flip its sign
  std::vector<TensorMap> weights;
  for (auto [batch, accumulation] : {std::pair{4, 1}, {2, 2}}) {
    c.per_device_train_batch_size = batch;
    c.gradient_accumulation_steps = accumulation;
    c.output_dir = dir + "/out" + std::to_string(batch);
    TrainerLoopResult r = value_or_throw(run_reward_training(c, false, nullptr));
    EXPECT_EQ(r.global_step, 1);
    weights.push_back(value_or_throw(load_safetensors(r.model_dir + "/model.safetensors")).tensors);
  }
  for (const auto& [name, t] : weights[0]) {
    const at::Tensor& other = weights[1].at(name);
    EXPECT_TRUE(at::allclose(t, other, 1e-6, 1e-7)) << name << ": " << (t - other).abs().max().item<double>();
  }
  EXPECT_EQ(weights[0].count("score.weight"), 1u);
}

}  // namespace
}  // namespace r1
