#include "grpo/learner.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

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

// `dtype` copy of `m`'s weights, trainable.
Transformer converted(const Transformer& m, at::ScalarType dtype) {
  TensorMap t;
  for (const auto& [n, w] : m.tensors()) t[n] = w.detach().to(dtype);
  return value_or_throw(Transformer::from_tensors(m.config(), t, {.dtype = dtype, .trainable = true}));
}

// Mixed precision (TRL under autocast): a bf16 policy's step is an fp32 AdamW
// step on fp32 master weights, from gradients accumulated in fp32 over the
// micro-batches; the bf16 weights are the masters rounded. So the masters
// keep updates smaller than a bf16 step, and the run tracks an fp32 one.
TEST(Learner, Bf16StepIsAnFp32MasterStepOnFp32AccumulatedGradients) {
  Transformer m16 = converted(trainable_tiny(5), at::kBFloat16);
  Transformer m32 = converted(m16, at::kFloat);  // the same values, in fp32
  std::vector<std::string> names;
  std::vector<at::Tensor> masters;  // the reference: fp32 copies stepped by torch::optim::AdamW
  for (const auto& [n, w] : m16.tensors()) {
    names.push_back(n);
    masters.push_back(w.detach().to(at::kFloat).requires_grad_());
  }
  std::vector<at::Tensor> start;
  for (const auto& m : masters) start.push_back(m.detach().clone());
  const double lr = 1e-4;
  torch::optim::AdamW reference(masters, torch::optim::AdamWOptions(lr).weight_decay(0.0));
  AdamW opt16(m16, AdamWOptions{}), opt32(m32, AdamWOptions{});
  LearnerOptions o = off_policy();
  o.learning_rate = lr;
  o.micro_batch_size = 2;  // 3 micro-batches per step
  o.streams = 1;
  Batch b = sample_batch();
  for (int step = 0; step < 3; ++step) {
    // The step's gradients as the learner accumulates them: fp32 sums of bf16 micro-batch gradients.
    for (auto& t : m16.parameters()) t.mutable_grad() = at::Tensor();
    ASSERT_TRUE(accumulate_policy_gradients(m16, nullptr, b, o).ok());
    std::vector<at::Tensor> grads;
    for (const auto& n : names) grads.push_back(m16.tensors().at(n).grad().clone());
    ASSERT_EQ(grads[0].scalar_type(), at::kFloat);
    double norm = at::stack(at::_foreach_norm(grads, 2)).norm(2).item<double>();
    double coef = std::min(1.0, o.max_grad_norm / (norm + 1e-6));  // torch's clip_grad_norm_
    for (size_t i = 0; i < masters.size(); ++i) masters[i].mutable_grad() = grads[i] * coef;
    reference.step();
    opt16.zero_grad();
    auto stats = learner_step(m16, nullptr, opt16, b, o);
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_NEAR(stats->grad_norm, norm, 1e-6 * norm);
    ASSERT_TRUE(learner_step(m32, nullptr, opt32, b, o).ok());
  }
  TensorMap state = opt16.state_tensors();
  int64_t kept_only_by_master = 0;
  double diff_sq = 0, rounded_sq = 0, update_sq = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const at::Tensor& master = state.at(names[i] + ".master");
    at::Tensor w16 = m16.tensors().at(names[i]).detach();
    EXPECT_TRUE(at::allclose(master, masters[i].detach(), 1e-6, 1e-9)) << names[i];
    EXPECT_TRUE(at::equal(w16, master.to(at::kBFloat16))) << names[i];
    kept_only_by_master += (master.ne(start[i]) & w16.eq(start[i].to(at::kBFloat16))).sum().item<int64_t>();
    at::Tensor u32 = m32.tensors().at(names[i]).detach() - start[i];
    diff_sq += (master - start[i] - u32).pow(2).sum().item<double>();
    rounded_sq += (w16.to(at::kFloat) - start[i] - u32).pow(2).sum().item<double>();
    update_sq += u32.pow(2).sum().item<double>();
  }
  // Updates of lr 1e-4 are below bf16's resolution for most weights: only the masters hold them.
  EXPECT_GT(kept_only_by_master, 1000);
  // The masters' update is the fp32 run's up to bf16 rounding of the
  // forward and backward; the bf16 weights alone are much further off.
  double master_error = std::sqrt(diff_sq / update_sq), weight_error = std::sqrt(rounded_sq / update_sq);
  EXPECT_LT(master_error, 0.3) << master_error;
  EXPECT_GT(weight_error, 2 * master_error) << weight_error << " vs " << master_error;
}

// On-policy distillation: the step's loss is the mean over completion
// positions of KL(student || teacher) between the next-token distributions,
// with its gradient; computed here directly, one sequence at a time.
TEST(Learner, OnPolicyDistillationIsTheReverseKl) {
  Transformer student = trainable_tiny(6);
  Transformer teacher = tiny_random_model(32, 0.2, 7);
  Batch b = sample_batch();
  LearnerOptions o;
  o.teacher = &teacher;
  o.micro_batch_size = 2;
  o.temperature = 0.8;
  for (auto& t : student.parameters()) t.mutable_grad() = at::Tensor();
  LearnerStepStats stats = value_or_throw(accumulate_policy_gradients(student, nullptr, b, o));
  std::vector<at::Tensor> grads;
  for (const auto& t : student.parameters()) grads.push_back(t.grad().clone());

  for (auto& t : student.parameters()) t.mutable_grad() = at::Tensor();
  double tokens = 0;
  at::Tensor kl_sum = at::zeros({});
  for (const Sample& s : b) {
    std::vector<int64_t> seq = s.prompt_ids;
    seq.insert(seq.end(), s.token_ids.begin(), s.token_ids.end());
    int64_t p = static_cast<int64_t>(s.prompt_ids.size()), n = static_cast<int64_t>(s.token_ids.size());
    TokenBatch one = make_token_batch({seq});
    // Positions p-1 .. p+n-2 predict the completion's tokens.
    at::Tensor log_s = (student.lm_head(batch_hidden(student, one))[0].narrow(0, p - 1, n) / 0.8).log_softmax(-1);
    at::Tensor log_t;
    {
      at::NoGradGuard no_grad;
      log_t = (teacher.lm_head(batch_hidden(teacher, one))[0].narrow(0, p - 1, n) / 0.8).log_softmax(-1);
    }
    kl_sum = kl_sum + (log_s.exp() * (log_s - log_t)).sum();
    tokens += static_cast<double>(n);
  }
  at::Tensor loss = kl_sum / tokens;
  loss.backward();
  EXPECT_NEAR(stats.loss, loss.item<double>(), 1e-5 * loss.item<double>());
  EXPECT_GT(stats.loss, 0.01);
  std::vector<at::Tensor> params = student.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    at::Tensor want = params[i].grad();
    EXPECT_LE((grads[i] - want).abs().max().item<double>(), 1e-5 * want.abs().max().item<double>() + 1e-9)
        << "tensor " << i;
  }
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
    EXPECT_LE((with_mask[i] - without[i]).abs().max().item<double>(),
              1e-5 * without[i].abs().max().item<double>() + 1e-9)
        << "tensor " << i;
}

}  // namespace
}  // namespace r1
