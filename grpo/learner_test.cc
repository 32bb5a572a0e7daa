#include "grpo/learner.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "model/test_models.h"
#include "model/scoring.h"

namespace r1 {
namespace {

Transformer trainable_tiny(uint64_t seed) { return tiny_random_model(32, 0.2, seed, /*trainable=*/true); }

LearnerBatch sample_batch() {
  LearnerBatch b;
  b.prompt_ids = {{1, 2, 3}, {1, 2, 3}, {4, 5}, {4, 5}, {6}};
  b.completion_ids = {{7, 8, 9, 10}, {7, 11}, {12, 13, 14}, {15}, {16, 17}};
  for (const auto& c : b.completion_ids) {
    std::vector<float> old;
    for (size_t t = 0; t < c.size(); ++t) old.push_back(-3.0f - 0.1f * t);  // off-policy: ratio != 1
    b.old_logprobs.push_back(old);
  }
  b.advantages = {1.0, -1.0, 0.5, -0.5, 0.0};
  return b;
}

std::vector<at::Tensor> grads_after(const Transformer& m, const LearnerBatch& b, LearnerOptions o) {
  for (auto& t : m.parameters()) t.mutable_grad() = at::Tensor();
  auto stats = accumulate_policy_gradients(m, nullptr, b, o);
  EXPECT_TRUE(stats.ok()) << stats.status().message();
  std::vector<at::Tensor> grads;
  for (const auto& t : m.parameters()) grads.push_back(t.grad().clone());
  return grads;
}

TEST(Learner, MicroBatchingLeavesTheGradientUnchanged) {
  Transformer m = trainable_tiny(1);
  LearnerBatch b = sample_batch();
  for (const char* loss_type : {"dapo", "grpo", "dr_grpo"}) {
    LearnerOptions o;
    o.loss.loss_type = loss_type;
    o.loss.max_completion_length = 8;
    o.micro_batch_size = 5;
    auto whole = grads_after(m, b, o);
    o.micro_batch_size = 2;
    auto split = grads_after(m, b, o);
    for (size_t i = 0; i < whole.size(); ++i)
      // fp32 sums in another order: equal to 1e-5 of the tensor's largest entry.
      EXPECT_LE((whole[i] - split[i]).abs().max().item<double>(), 1e-5 * whole[i].abs().max().item<double>() + 1e-9)
          << loss_type << " tensor " << i << ": " << (whole[i] - split[i]).abs().max().item<double>() << " of "
          << whole[i].abs().max().item<double>();
  }
}

// Concurrent micro-batch streams: the same gradient as one stream (up to
// summation order) and bit-identical from run to run.
TEST(Learner, StreamsLeaveTheGradientUnchangedAndReproducible) {
  Transformer m = trainable_tiny(2);
  LearnerBatch b = sample_batch();
  int threads = at::get_num_threads();
  at::set_num_threads(2);
  LearnerOptions o;
  o.micro_batch_size = 1;
  o.streams = 1;
  auto one = grads_after(m, b, o);
  o.streams = 2;
  auto two = grads_after(m, b, o), again = grads_after(m, b, o);
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_LE((one[i] - two[i]).abs().max().item<double>(), 1e-5 * one[i].abs().max().item<double>() + 1e-9)
        << "tensor " << i;
    EXPECT_TRUE(at::equal(two[i], again[i])) << "tensor " << i;
  }
  EXPECT_EQ(at::get_num_threads(), 2);
  at::set_num_threads(threads);
}

double sequence_logprob(const Transformer& m, const LearnerBatch& b, size_t i) {
  at::NoGradGuard no_grad;
  std::vector<int64_t> seq = b.prompt_ids[i];
  seq.insert(seq.end(), b.completion_ids[i].begin(), b.completion_ids[i].end());
  return next_token_logprobs(m, make_token_batch({seq}))[0]
      .narrow(0, b.prompt_ids[i].size() - 1, b.completion_ids[i].size())
      .sum()
      .item<double>();
}

TEST(Learner, StepsRaiseRewardedAndLowerPenalisedCompletions) {
  Transformer m = trainable_tiny(2);
  LearnerBatch b = sample_batch();
  for (auto& old : b.old_logprobs) old.clear();  // on-policy
  double up = sequence_logprob(m, b, 0), down = sequence_logprob(m, b, 1);
  AdamW optimizer(m, AdamWOptions{});
  LearnerOptions o;
  o.learning_rate = 1e-2;
  for (int step = 0; step < 5; ++step) {
    auto stats = learner_step(m, nullptr, optimizer, b, o);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_GT(stats->grad_norm, 0.0);
    EXPECT_EQ(stats->completion_tokens, 12);
  }
  EXPECT_GT(sequence_logprob(m, b, 0), up);
  EXPECT_LT(sequence_logprob(m, b, 1), down);
}

TEST(Learner, InconsistentBatchesAreErrors) {
  Transformer m = trainable_tiny(3);
  LearnerBatch b = sample_batch();
  b.old_logprobs[2].pop_back();
  auto r = accumulate_policy_gradients(m, nullptr, b, LearnerOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "learner batch: sequence 2 has 2 old log-probs for 3 completion tokens");
  LearnerOptions kl;
  kl.loss.beta = 0.04;
  EXPECT_EQ(accumulate_policy_gradients(m, nullptr, sample_batch(), kl).status().message(),
            "beta != 0 needs a reference model");
}

}  // namespace
}  // namespace r1
