#include "train/train_state.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "model/model_presets.h"
#include "model/transformer.h"
#include "train/optimizer.h"
#include "util/file.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  std::string dir = testing::TempDir() + "/r1_train_state_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  return dir;
}

Transformer trainable_tiny(uint64_t seed) {
  ModelConfig c = *preset_config(ModelFamily::qwen3, "tiny");
  c.vocab_size = 40;
  Transformer m = Transformer::random(c, seed);
  for (const auto& [n, t] : m.tensors()) t.set_requires_grad(true);
  return m;
}

void train_step(const Transformer& m, AdamW& opt, int64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor ids = at::randint(0, 40, {1, 6}, gen);
  at::Tensor pos = at::arange(6).unsqueeze(0);
  at::Tensor allowed = at::ones({6, 6}, at::kBool).tril().unsqueeze(0);
  at::Tensor logits = m.lm_head(m.forward(ids, pos, allowed));
  at::cross_entropy_loss(logits[0].narrow(0, 0, 5), ids[0].narrow(0, 1, 5)).backward();
  opt.clip_grad_norm(1.0);
  opt.step(1e-2);
}

TEST(TrainState, ResumedOptimizerContinuesIdentically) {
  std::string out = fresh_dir("resume");
  Transformer m = trainable_tiny(1);
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW opt(m, o);
  train_step(m, opt, 1);
  train_step(m, opt, 2);
  TrainerState st;
  st.global_step = 2;
  st.epoch = 0.5;
  st.seed = 42;
  st.data_cursor = R"({"epoch":0,"batch":4})";
  st.log_history = {R"({"step":1,"loss":3.5})", R"({"step":2,"loss":3.25})"};
  auto dir = save_training_checkpoint({out, 0, ""}, m, {opt.state_tensors(), opt.steps_taken()}, st);
  ASSERT_TRUE(dir.ok()) << dir.status().message();
  train_step(m, opt, 3);
  train_step(m, opt, 4);

  EXPECT_EQ(*find_last_checkpoint(out), *dir);
  Transformer r = *Transformer::load(*dir, {at::kFloat, true});
  AdamW ropt(r, o);
  ASSERT_TRUE(load_optimizer_state(*dir, ropt).ok());
  EXPECT_EQ(ropt.steps_taken(), 2);
  TrainerState back = *load_trainer_state(*dir);
  EXPECT_EQ(back.global_step, 2);
  EXPECT_EQ(back.epoch, 0.5);
  EXPECT_EQ(back.seed, 42u);
  EXPECT_EQ(back.data_cursor, st.data_cursor);
  EXPECT_EQ(back.log_history, st.log_history);
  train_step(r, ropt, 3);
  train_step(r, ropt, 4);
  for (const auto& [n, t] : m.tensors()) EXPECT_TRUE(at::equal(t.detach(), r.tensors().at(n).detach())) << n;
  fs::remove_all(out);
}

TEST(TrainState, KeepsTheNewestCompleteCheckpoints) {
  std::string out = fresh_dir("limit");
  Transformer m = trainable_tiny(2);
  AdamW opt(m, {});
  TrainerState st;
  for (int64_t step = 1; step <= 4; ++step) {
    st.global_step = step;
    ASSERT_TRUE(save_training_checkpoint({out, 2, ""}, m, {opt.state_tensors(), opt.steps_taken()}, st).ok());
  }
  // An incomplete folder (no trainer_state.json) and a temp folder are not checkpoints.
  ASSERT_TRUE(make_dirs(out + "/checkpoint-9").ok());
  ASSERT_TRUE(make_dirs(out + "/.checkpoint-10.tmp").ok());
  auto all = *list_checkpoints(out);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(fs::path(all[0]).filename(), "checkpoint-3");
  EXPECT_EQ(fs::path(*find_last_checkpoint(out)).filename(), "checkpoint-4");
  EXPECT_EQ(*find_last_checkpoint(out + "/missing"), "");
  fs::remove_all(out);
}

TEST(TrainState, BrokenStateFileNamesTheFile) {
  std::string out = fresh_dir("broken");
  ASSERT_TRUE(make_dirs(out).ok());
  ASSERT_TRUE(write_file_atomic(out + "/trainer_state.json", R"({"global_step": "x"})").ok());
  auto st = load_trainer_state(out);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("trainer_state.json"), std::string::npos);
  EXPECT_NE(st.status().message().find("global_step"), std::string::npos);
  fs::remove_all(out);
}

}  // namespace
}  // namespace r1
