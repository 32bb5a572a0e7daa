#include "sft/sft_trainer.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "sft/sft_loss.h"
#include "sft/sft_test_util.h"
#include "train/train_state.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

std::map<std::string, at::Tensor> grads_for_split(const Transformer& m, const std::vector<SftRow>& rows,
                                                  size_t micro) {
  std::vector<SftBatch> batches;
  for (size_t i = 0; i < rows.size(); i += micro) {
    std::vector<const SftRow*> part;
    for (size_t j = i; j < std::min(rows.size(), i + micro); ++j) part.push_back(&rows[j]);
    batches.push_back(collate(part));
  }
  for (const auto& [n, t] : m.tensors()) t.mutable_grad().reset();
  value_or_throw(accumulate_gradients(m, batches));
  std::map<std::string, at::Tensor> out;
  for (const auto& [n, t] : m.tensors()) out[n] = t.grad().clone();
  return out;
}

TEST(SftTrainer, AccumulationGivesTheFullBatchGradient) {
  Transformer m = trainable_tiny(1);
  auto rows = toy_rows(6, 50);
  auto full = grads_for_split(m, rows, 6);
  for (size_t micro : {1u, 2u, 4u}) {
    auto split = grads_for_split(m, rows, micro);
    for (const auto& [n, g] : full) EXPECT_TRUE(at::allclose(split[n], g, 1e-5, 1e-7)) << micro << " " << n;
  }
  // Per-micro-batch means would differ: the rows have different target counts.
  SftBatch a = collate({&rows[0]}), b = collate({&rows[1]});
  ASSERT_NE(a.target_tokens, b.target_tokens);
}

// The loss over padded rows equals the padded computation's (every position
// computed, targets taken from the flattened [B, L]) in value and gradient.
TEST(SftTrainer, PaddingFreeLossEqualsThePaddedComputation) {
  Transformer m = trainable_tiny(3);
  auto rows = toy_rows(5, 50);
  std::vector<const SftRow*> all;
  for (const auto& r : rows) all.push_back(&r);
  SftBatch packed = collate(all);
  ASSERT_TRUE(packed.packed.defined());
  SftBatch padded = packed;
  padded.packed = at::Tensor();
  padded.targets = (padded.labels.reshape({-1}) != -100).nonzero().squeeze(1);
  auto loss_and_grads = [&](const SftBatch& b) {
    for (const auto& [n, t] : m.tensors()) t.mutable_grad().reset();
    at::Tensor loss = sft_loss_sum(m, b);
    loss.backward();
    std::vector<at::Tensor> out = {loss.detach()};
    for (const auto& [n, t] : m.tensors()) out.push_back(t.grad().clone());
    return out;
  };
  auto want = loss_and_grads(padded), got = loss_and_grads(packed);
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_LE((got[i] - want[i]).abs().max().item<double>(), 1e-5 * want[i].abs().max().item<double>() + 1e-9) << i;
}

TEST(SftTrainer, PackedRowLogitsEqualUnpackedOnes) {
  Transformer m = trainable_tiny(2);
  at::NoGradGuard no_grad;
  std::vector<SftSample> samples;
  for (int64_t i = 0; i < 3; ++i) samples.push_back({{3 + i, 9, 14 + i, 2, 7 + i}, {0, 1, 1, 1, 1}});
  samples[1].ids.resize(3);
  samples[1].trained.resize(3);
  auto packed = make_rows(samples, true, 64);
  ASSERT_EQ(packed.size(), 1u);
  SftBatch pb = collate({&packed[0]});
  at::Tensor plogits = m.lm_head(m.forward(pb.ids, pb.positions, pb.allowed))[0];
  int64_t offset = 0;
  double unpacked_loss = 0;
  for (const auto& row : make_rows(samples, false, 64)) {
    SftBatch ub = collate({&row});
    at::Tensor ulogits = m.lm_head(m.forward(ub.ids, ub.positions, ub.allowed))[0];
    int64_t n = ulogits.size(0);
    EXPECT_TRUE(at::allclose(plogits.narrow(0, offset, n), ulogits, 1e-5, 1e-6)) << offset;
    offset += n;
    unpacked_loss += sft_loss_sum(m, ub).item<double>();
  }
  EXPECT_NEAR(sft_loss_sum(m, pb).item<double>(), unpacked_loss, 1e-4);
}

struct RunFiles {
  std::string dir, model, train, eval;
};

RunFiles write_run_files(const std::string& name, int64_t rows) {
  RunFiles f;
  f.dir = sft_temp_dir(name);
  f.model = write_tiny_model(f.dir, 3);
  std::string train, eval;
  for (int64_t i = 0; i < rows; ++i)
    train += "{\"prompt\": \"" + std::to_string(i) + "+" + std::to_string(i) + "=\", \"completion\": \"" +
             std::to_string(2 * i) + "\"}\n";
  eval = "{\"prompt\": \"3+4=\", \"completion\": \"7\"}\n{\"text\": \"the cat sat\"}\n";
  f.train = f.dir + "/train.jsonl";
  f.eval = f.dir + "/eval.jsonl";
  throw_if_error(write_file_atomic(f.train, train));
  throw_if_error(write_file_atomic(f.eval, eval));
  return f;
}

SFTConfig run_config(const RunFiles& f, const std::string& out) {
  SFTConfig c;
  c.model_name_or_path = f.model;
  c.train_file = f.train;
  c.eval_file = f.eval;
  c.output_dir = out;
  c.learning_rate = 3e-3;
  c.per_device_train_batch_size = 2;
  c.gradient_accumulation_steps = 2;
  c.max_steps = 6;
  c.warmup_steps = 2;
  c.lr_scheduler_type = "cosine";
  c.weight_decay = 0.01;
  c.logging_steps = 1;
  c.save_steps = 3;
  c.eval_steps = 2;
  c.seed = 5;
  return c;
}

TEST(SftTrainer, ResumeFromACheckpointEqualsAStraightRun) {
  RunFiles f = write_run_files("resume", 7);  // 4 micro-batches = 2 steps per epoch: 6 steps cross epochs
  SFTConfig straight = run_config(f, f.dir + "/straight");
  auto a = run_sft(straight, false, nullptr);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->global_step, 6);

  SFTConfig resumed = run_config(f, f.dir + "/resumed");
  resumed.max_steps = 6;
  ASSERT_TRUE(run_sft(resumed, false, nullptr).ok());
  // Forget everything after step 3, as if the run had died there.
  fs::remove_all(resumed.output_dir + "/checkpoint-6");
  fs::remove_all(resumed.output_dir + "/model");
  ASSERT_EQ(fs::path(*find_last_checkpoint(resumed.output_dir)).filename(), "checkpoint-3");
  auto b = run_sft(resumed, true, nullptr);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_NEAR(b->last_loss, a->last_loss, 1e-6);
  EXPECT_NEAR(*b->eval_loss, *a->eval_loss, 1e-6);
  Transformer wa = *Transformer::load(a->model_dir), wb = *Transformer::load(b->model_dir);
  for (const auto& [n, t] : wa.tensors())
    EXPECT_TRUE(at::allclose(t, wb.tensors().at(n), 0, 1e-6)) << n;
  // Without --resume an output_dir with checkpoints is refused.
  auto again = run_sft(resumed, false, nullptr);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("--resume"), std::string::npos);
  fs::remove_all(f.dir);
}

TEST(SftTrainer, TinyModelLearnsARepetitiveText) {
  RunFiles f = write_run_files("learn", 1);
  std::string text;
  for (int i = 0; i < 8; ++i) {
    std::string line;
    for (int k = 0; k < 6; ++k) line += "abcdefg ";
    text += "{\"text\": \"" + line + "\"}\n";
  }
  throw_if_error(write_file_atomic(f.train, text));
  SFTConfig c = run_config(f, f.dir + "/out");
  c.eval_file = f.train;
  c.max_steps = 100;
  c.save_steps = 0;
  c.eval_steps = 0;
  c.gradient_accumulation_steps = 1;
  c.per_device_train_batch_size = 4;
  c.warmup_steps = 5;
  c.learning_rate = 1e-2;
  auto start = evaluate_file(c, f.model, f.train);
  ASSERT_TRUE(start.ok()) << start.status().message();
  auto r = run_sft(c, false, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_LT(*r->eval_loss, 0.3 * start->loss) << "start " << start->loss;
  fs::remove_all(f.dir);
}

// ---- logit distillation (the loss itself: distill/distill_loss_test.cc) ----

TEST(SftDistill, AlphaZeroIsPlainSftAndAnotherVocabularyIsAnError) {
  RunFiles f = write_run_files("distill", 6);
  std::string teacher = write_tiny_model(f.dir + "/teacher", 11);
  SFTConfig plain = run_config(f, f.dir + "/plain");
  plain.save_steps = 0;
  SFTConfig zero = plain;
  zero.output_dir = f.dir + "/zero";
  zero.teacher_model_name_or_path = teacher;
  zero.distill_alpha = 0.0;
  auto a = run_sft(plain, false, nullptr), b = run_sft(zero, false, nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->last_loss, b->last_loss);
  Transformer wa = *Transformer::load(a->model_dir), wb = *Transformer::load(b->model_dir);
  for (const auto& [n, t] : wa.tensors()) EXPECT_TRUE(at::equal(t, wb.tensors().at(n))) << n;

  // With alpha > 0 the run distills, and logs the KL.
  SFTConfig kd = plain;
  kd.output_dir = f.dir + "/kd";
  kd.teacher_model_name_or_path = teacher;
  kd.distill_alpha = 0.5;
  kd.distill_temperature = 2.0;
  auto c = run_sft(kd, false, nullptr);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_NE(c->last_loss, a->last_loss);
  std::string metrics = *read_file(kd.output_dir + "/metrics.jsonl");
  EXPECT_NE(metrics.find("\"kl\":"), std::string::npos);
  EXPECT_NE(metrics.find("\"eval_kl\":"), std::string::npos);

  // A teacher whose vocabulary differs is refused before training.
  ModelConfig other = *preset_config(ModelFamily::qwen2, "tiny");
  other.vocab_size = 300;
  other.eos_token_ids = Transformer::load(f.model)->config().eos_token_ids;
  throw_if_error(Transformer::random(other, 2).save(f.dir + "/wide", f.dir + "/teacher/tokenizer"));
  kd.output_dir = f.dir + "/wide_run";
  kd.teacher_model_name_or_path = f.dir + "/wide";
  auto d = run_sft(kd, false, nullptr);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("vocab_size 300 differs from the student's"), std::string::npos)
      << d.status().message();
  EXPECT_FALSE(fs::exists(kd.output_dir + "/model"));
  fs::remove_all(f.dir);
}

}  // namespace
}  // namespace r1
