#include "grpo/learner.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "model/test_models.h"
#include "model/scoring.h"

namespace r1 {
namespace {

Transformer trainable_tiny(uint64_t seed) { return tiny_random_model(32, 0.2, seed, /*trainable=*/true); }

using Batch = std::vector<Sample>;

// Off-policy by default: sampling log-probs that make the ratio != 1.
LearnerOptions off_policy() {
  LearnerOptions o;
  o.use_sampling_logprobs = true;
  return o;
}

Sample sequence(std::vector<int64_t> prompt, std::vector<int64_t> completion, double advantage) {
  std::vector<float> old;
  for (size_t t = 0; t < completion.size(); ++t) old.push_back(-3.0f - 0.1f * t);
  return {.prompt_ids = std::move(prompt), .token_ids = std::move(completion), .logprobs = old, .advantage = advantage};
}

Batch sample_batch() {
  return {sequence({1, 2, 3}, {7, 8, 9, 10}, 1.0), sequence({1, 2, 3}, {7, 11}, -1.0),
          sequence({4, 5}, {12, 13, 14}, 0.5), sequence({4, 5}, {15}, -0.5), sequence({6}, {16, 17}, 0.0)};
}

std::vector<at::Tensor> grads_after(const Transformer& m, const Batch& b, LearnerOptions o) {
  for (auto& t : m.parameters()) t.mutable_grad() = at::Tensor();
  auto stats = accumulate_policy_gradients(m, nullptr, b, o);
  EXPECT_TRUE(stats.ok()) << stats.status().message();
  std::vector<at::Tensor> grads;
  for (const auto& t : m.parameters()) grads.push_back(t.grad().clone());
  return grads;
}

TEST(Learner, MicroBatchingLeavesTheGradientUnchanged) {
  Transformer m = trainable_tiny(1);
  Batch b = sample_batch();
  for (const char* loss_type : {"dapo", "grpo", "dr_grpo"}) {
    LearnerOptions o = off_policy();
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
  Batch b = sample_batch();
  int threads = at::get_num_threads();
  at::set_num_threads(2);
  LearnerOptions o = off_policy();
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

double sequence_logprob(const Transformer& m, const Batch& b, size_t i) {
  at::NoGradGuard no_grad;
  std::vector<int64_t> seq = b[i].prompt_ids;
  seq.insert(seq.end(), b[i].token_ids.begin(), b[i].token_ids.end());
  return next_token_logprobs(m, make_token_batch({seq}))[0]
      .narrow(0, b[i].prompt_ids.size() - 1, b[i].token_ids.size())
      .sum()
      .item<double>();
}

TEST(Learner, StepsRaiseRewardedAndLowerPenalisedCompletions) {
  Transformer m = trainable_tiny(2);
  Batch b = sample_batch();  // trained on-policy: the sampling log-probs are not read
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
  Batch b = sample_batch();
  b[2].logprobs.pop_back();
  auto r = accumulate_policy_gradients(m, nullptr, b, off_policy());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "learner batch: sequence 2 has 2 sampling log-probs for 3 completion tokens");
  LearnerOptions kl;
  kl.loss.beta = 0.04;
  EXPECT_EQ(accumulate_policy_gradients(m, nullptr, sample_batch(), kl).status().message(),
            "beta != 0 needs a reference model");
}

// mask_truncated_completions: a sample cut at the length limit adds nothing
// to the loss or its token count; the others' gradient is as without it.
TEST(Learner, TruncatedCompletionsCanBeMaskedOut) {
  Transformer m = trainable_tiny(4);
  Batch b = sample_batch();
  b[0].finish_reason = "length";
  LearnerOptions o = off_policy();
  o.mask_truncated_completions = true;
  auto masked = accumulate_policy_gradients(m, nullptr, b, o);
  ASSERT_TRUE(masked.ok()) << masked.status().message();
  EXPECT_EQ(masked->completion_tokens, 12 - 4);
  auto with_mask = grads_after(m, b, o);
  Batch rest(b.begin() + 1, b.end());
  auto without = grads_after(m, rest, o);
  for (size_t i = 0; i < with_mask.size(); ++i)
    EXPECT_LE((with_mask[i] - without[i]).abs().max().item<double>(), 1e-5 * without[i].abs().max().item<double>() + 1e-9)
        << "tensor " << i;
}

}  // namespace
}  // namespace r1
