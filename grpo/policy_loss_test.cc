#include "grpo/policy_loss.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "grpo/grpo_config.h"
#include "grpo/sampling_correction.h"

namespace r1 {
namespace {

at::Tensor leaf(const at::Tensor& t) { return t.detach().clone().set_requires_grad(true); }

at::Tensor grad_of(const at::Tensor& loss, const at::Tensor& x) {
  return torch::autograd::grad({loss}, {x})[0];
}

LossOutput loss_or_die(const LossInputs& in, const LossOptions& opt) {
  auto out = grpo_policy_loss(in, opt);
  if (!out.ok()) throw Error(out.status());
  return *out;
}

double metric(const LossOutput& out, const char* name) { return out.metrics.at(name).item<double>(); }

// B=8 sequences of up to T=6 tokens with ragged masks, off-policy old logps
// and a reference policy: exercises every term.
struct Batch {
  at::Tensor logps, old, ref, adv, mask;
  Batch() {
    at::manual_seed(3);
    auto d = at::TensorOptions().dtype(at::kDouble);
    logps = -at::rand({8, 6}, d) * 2;
    old = logps + at::randn({8, 6}, d) * 0.3;
    ref = logps + at::randn({8, 6}, d) * 0.2;
    adv = at::randn({8}, d);
    at::Tensor lengths = at::tensor({6, 1, 3, 5, 0, 2, 6, 4}, at::kLong);
    mask = (at::arange(6).unsqueeze(0) < lengths.unsqueeze(1)).to(at::kLong);
  }
  // Rows [begin, end); x holds their current log-probs (the differentiated leaf).
  LossInputs slice(int64_t begin, int64_t end, const at::Tensor& x) const {
    LossInputs in;
    in.per_token_logps = x;
    in.old_per_token_logps = old.slice(0, begin, end);
    in.ref_per_token_logps = ref.slice(0, begin, end);
    in.advantages = adv.slice(0, begin, end);
    in.completion_mask = mask.slice(0, begin, end);
    in.normalizer.num_sequences = 8;
    in.normalizer.num_tokens = mask.sum().to(at::kDouble);
    return in;
  }
};

LossOptions options(const std::string& loss_type, double beta = 0.04) {
  LossOptions o;
  o.loss_type = loss_type;
  o.epsilon = 0.2;
  o.epsilon_high = 0.28;
  o.beta = beta;
  o.max_completion_length = 6;
  return o;
}

TEST(PolicyLoss, MicroBatchesSumToTheFullBatchGradient) {
  Batch b;
  for (const std::string type : {"grpo", "dr_grpo", "dapo"}) {
    for (const std::string level : {"token", "sequence"}) {
      LossOptions opt = options(type);
      opt.importance_sampling_level = level;
      at::Tensor x = leaf(b.logps);
      at::Tensor full = loss_or_die(b.slice(0, 8, x), opt).loss;
      at::Tensor full_grad = grad_of(full, x);
      at::Tensor sum = at::zeros({}, at::kDouble);
      at::Tensor micro_grad = at::zeros_like(b.logps);
      for (int64_t begin : {0, 3, 5}) {  // uneven micro-batches: 3, 2, 3 sequences
        int64_t end = begin == 0 ? 3 : begin == 3 ? 5 : 8;
        at::Tensor y = leaf(b.logps.slice(0, begin, end));
        at::Tensor loss = loss_or_die(b.slice(begin, end, y), opt).loss;
        sum = sum + loss.detach();
        micro_grad.slice(0, begin, end).copy_(grad_of(loss, y));
      }
      EXPECT_NEAR(sum.item<double>(), full.item<double>(), 1e-14) << type << " " << level;
      // Each element's gradient takes the same operations either way: bit-identical.
      EXPECT_TRUE(at::equal(micro_grad, full_grad)) << type << " " << level << ": max difference "
                                                    << (micro_grad - full_grad).abs().max().item<double>();
      EXPECT_GT(full_grad.abs().sum().item<double>(), 0.0);
    }
  }
}

TEST(PolicyLoss, BnpoIsTrlsLocalTokenMeanOverMicroBatches) {
  Batch b;
  at::Tensor x = leaf(b.logps);
  LossInputs in = b.slice(0, 8, x);
  in.old_per_token_logps = at::Tensor();
  in.normalizer.num_micro_batches = 4;
  at::Tensor loss = loss_or_die(in, options("bnpo", 0.0)).loss;
  // On-policy the ratio is 1: loss = -Σ A_b m_bt / Σ m / 4, whatever the normaliser fields say.
  at::Tensor mask = b.mask.to(at::kDouble);
  double want = -(b.adv.unsqueeze(1) * mask).sum().item<double>() / mask.sum().item<double>() / 4;
  EXPECT_NEAR(loss.item<double>(), want, 1e-14);
}

TEST(PolicyLoss, OnPolicyLossValueAndGradient) {
  // num_iterations == 1: old logps undefined ⇒ ratio exactly 1, loss = -mean A, gradient -A m / N.
  Batch b;
  at::Tensor x = leaf(b.logps);
  LossInputs in = b.slice(0, 8, x);
  in.old_per_token_logps = at::Tensor();
  auto out = loss_or_die(in, options("dapo", 0.0));
  at::Tensor mask = b.mask.to(at::kDouble);
  double tokens = mask.sum().item<double>();
  EXPECT_NEAR(out.loss.item<double>(), -(b.adv.unsqueeze(1) * mask).sum().item<double>() / tokens, 1e-14);
  at::Tensor want_grad = -b.adv.unsqueeze(1) * mask / tokens;
  EXPECT_LT((grad_of(out.loss, x) - want_grad).abs().max().item<double>(), 1e-15);
  EXPECT_EQ(metric(out, "clip_ratio/region_mean"), 0.0);
  EXPECT_EQ(out.metrics.count("kl"), 0u);
}

// One sequence, four tokens with chosen ratios r = exp(logp - old).
struct Clipped {
  LossOutput out;
  at::Tensor grad;
  Clipped(std::vector<double> ratios, double advantage, LossOptions opt) {
    at::Tensor old = at::full({1, 4}, -1.0, at::kDouble);
    at::Tensor x = leaf(old + at::log(at::tensor(ratios, at::kDouble)).view({1, 4}));
    LossInputs in;
    in.per_token_logps = x;
    in.old_per_token_logps = old;
    in.advantages = at::full({1}, advantage, at::kDouble);
    in.completion_mask = at::ones({1, 4}, at::kLong);
    in.normalizer.num_sequences = 1;
    in.normalizer.num_tokens = at::full({}, 4.0, at::kDouble);
    out = loss_or_die(in, opt);
    grad = grad_of(out.loss, x)[0];
  }
};

TEST(PolicyLoss, ClippingStopsTheGradientOnlyOutsideTheTrustRegion) {
  LossOptions opt = options("dapo", 0.0);  // ε_low 0.2, ε_high 0.28
  Clipped pos({1.5, 1.25, 0.5, 1.0}, +1.0, opt);
  // A > 0: clipped above 1.28 only; below 0.8 the min keeps the unclipped (smaller) term.
  EXPECT_EQ(pos.grad[0].item<double>(), 0.0);
  EXPECT_NEAR(pos.grad[1].item<double>(), -1.25 / 4, 1e-15);
  EXPECT_NEAR(pos.grad[2].item<double>(), -0.5 / 4, 1e-15);
  EXPECT_NEAR(pos.out.loss.item<double>(), -(1.28 + 1.25 + 0.5 + 1.0) / 4, 1e-15);
  EXPECT_DOUBLE_EQ(metric(pos.out, "clip_ratio/high_mean"), 0.25);
  EXPECT_DOUBLE_EQ(metric(pos.out, "clip_ratio/low_mean"), 0.0);
  EXPECT_DOUBLE_EQ(metric(pos.out, "clip_ratio/high_max"), 0.25);

  Clipped neg({1.5, 0.7, 0.5, 1.0}, -1.0, opt);
  // A < 0: clipped below 0.8 only; above, the unclipped term dominates and is kept.
  EXPECT_NEAR(neg.grad[0].item<double>(), 1.5 / 4, 1e-15);
  EXPECT_EQ(neg.grad[1].item<double>(), 0.0);
  EXPECT_EQ(neg.grad[2].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(metric(neg.out, "clip_ratio/low_mean"), 0.5);
  EXPECT_DOUBLE_EQ(metric(neg.out, "clip_ratio/region_mean"), 0.5);
  EXPECT_DOUBLE_EQ(metric(neg.out, "clip_ratio/low_min"), 0.5);
}

TEST(PolicyLoss, DeltaCapsTheUnclippedRatioForNegativeAdvantages) {
  LossOptions opt = options("dapo", 0.0);
  opt.delta = 2.0;
  Clipped neg({3.0, 1.5, 1.0, 1.0}, -1.0, opt);
  EXPECT_EQ(neg.grad[0].item<double>(), 0.0);  // capped at delta: no gradient
  EXPECT_NEAR(neg.grad[1].item<double>(), 1.5 / 4, 1e-15);
  EXPECT_NEAR(neg.out.loss.item<double>(), (2.0 + 1.5 + 1.0 + 1.0) / 4, 1e-15);
}

TEST(PolicyLoss, KlIsK3TimesTheRatioAndItsMetric) {
  Batch b;
  at::Tensor x = leaf(b.logps);
  LossInputs in = b.slice(0, 8, x);
  LossOptions opt = options("dapo", 0.5);
  at::Tensor with_kl = loss_or_die(in, opt).loss;
  auto out = loss_or_die(in, opt);
  opt.beta = 0.0;
  in.ref_per_token_logps = at::Tensor();  // not needed without KL
  at::Tensor without = loss_or_die(in, opt).loss;
  at::Tensor mask = b.mask.to(at::kDouble);
  at::Tensor d = b.ref - b.logps;
  at::Tensor kl = (at::exp(d) - d - 1) * at::exp(b.logps - b.old);
  double tokens = mask.sum().item<double>();
  EXPECT_NEAR((with_kl - without).item<double>(), 0.5 * (kl * mask).sum().item<double>() / tokens, 1e-14);
  EXPECT_NEAR(metric(out, "kl"), (kl * mask).sum().item<double>() / tokens, 1e-14);
}

TEST(PolicyLoss, GrpoAveragesPerSequenceMeans) {
  Batch b;
  at::Tensor x = leaf(b.logps);
  LossInputs in = b.slice(0, 8, x);
  in.old_per_token_logps = at::Tensor();
  in.normalizer.num_sequences = 16;  // e.g. two micro-batches of 8
  at::Tensor loss = loss_or_die(in, options("grpo", 0.0)).loss;
  at::Tensor mask = b.mask.to(at::kDouble);
  // Sequence 4 is empty: contributes 0 (its length is clamped to 1), but still counts.
  double want = -(b.adv * mask.sum(1) / mask.sum(1).clamp_min(1)).sum().item<double>() / 16;
  EXPECT_NEAR(loss.item<double>(), want, 1e-14);
}

TEST(PolicyLoss, DrGrpoDividesBySequencesTimesMaxLength) {
  Batch b;
  at::Tensor x = leaf(b.logps);
  LossInputs in = b.slice(0, 8, x);
  in.old_per_token_logps = at::Tensor();
  LossOptions opt = options("dr_grpo", 0.0);
  opt.max_completion_length = 10;
  at::Tensor loss = loss_or_die(in, opt).loss;
  at::Tensor mask = b.mask.to(at::kDouble);
  EXPECT_NEAR(loss.item<double>(), -(b.adv.unsqueeze(1) * mask).sum().item<double>() / (8 * 10), 1e-14);
}

TEST(PolicyLoss, SequenceLevelRatioIsTheGeometricMeanOfTokenRatios) {
  LossOptions opt = options("grpo", 0.0);
  opt.importance_sampling_level = "sequence";
  // Token ratios 1.5 and 1.0 on two active tokens (the third is masked out).
  at::Tensor old = at::full({1, 3}, -1.0, at::kDouble);
  at::Tensor x = leaf(old + at::log(at::tensor({1.5, 1.0, 9.0}, at::kDouble)).view({1, 3}));
  LossInputs in;
  in.per_token_logps = x;
  in.old_per_token_logps = old;
  in.advantages = at::full({1}, -1.0, at::kDouble);
  in.completion_mask = at::tensor({1, 1, 0}, at::kLong).view({1, 3});
  in.normalizer.num_sequences = 1;
  auto out = loss_or_die(in, opt);
  EXPECT_NEAR(out.loss.item<double>(), std::sqrt(1.5), 1e-14);  // -min(s·A, clip(s)·A) with A = -1
  EXPECT_DOUBLE_EQ(metric(out, "clip_ratio/high_mean"), 0.0);
}

TEST(PolicyLoss, ErrorsNameTheInput) {
  Batch b;
  LossInputs in = b.slice(0, 8, leaf(b.logps));
  LossOptions opt = options("dapo");
  in.ref_per_token_logps = at::Tensor();
  EXPECT_EQ(grpo_policy_loss(in, opt).status().message(),
            "policy loss: ref_per_token_logps is required when beta != 0");
  in = b.slice(0, 8, leaf(b.logps));
  in.completion_mask = b.mask.slice(1, 0, 5);
  EXPECT_EQ(grpo_policy_loss(in, opt).status().message(),
            "policy loss: completion_mask has shape [8,5], expected [8,6] like per_token_logps");
  in = b.slice(0, 8, leaf(b.logps));
  in.advantages = b.adv.slice(0, 0, 7);
  EXPECT_EQ(grpo_policy_loss(in, opt).status().message(),
            "policy loss: advantages has shape [7], expected [8] or [8,6]");
  in = b.slice(0, 8, leaf(b.logps));
  in.normalizer.num_tokens = at::Tensor();
  EXPECT_EQ(grpo_policy_loss(in, opt).status().message(),
            "policy loss (dapo): normalizer.num_tokens must be a one-element tensor");
  opt.loss_type = "ppo";
  EXPECT_EQ(grpo_policy_loss(in, opt).status().message(),
            "unknown loss_type 'ppo' (known: bnpo, dapo, dr_grpo, grpo)");
}

TEST(PolicyLoss, RegistryMatchesTheConfigChoices) {
  for (const auto& name : loss_type_names()) {
    GRPOConfig c;
    c.loss_type = name;
    EXPECT_TRUE(c.validate().ok()) << name;
    EXPECT_TRUE(loss_aggregator(name).ok());
  }
  GRPOConfig c;
  c.epsilon = 0.1;
  c.beta = 0.02;
  LossOptions o = loss_options_from_config(c);
  EXPECT_DOUBLE_EQ(o.epsilon_high, 0.1);  // TRL: epsilon_high None ⇒ epsilon
  EXPECT_DOUBLE_EQ(o.beta, 0.02);
  EXPECT_EQ(o.loss_type, "dapo");
}

}  // namespace
}  // namespace r1

namespace r1 {
namespace {

TEST(SamplingCorrection, WeightsAndMetricsFollowTheMode) {
  // Two sequences of 2 and 1 loss tokens; log-ratios 0.1, 1.0 | -1.0.
  at::Tensor old = at::tensor({0.1, 1.0, -1.0, 0.0}, at::kDouble).reshape({2, 2});
  at::Tensor sampling = at::zeros({2, 2}, at::kDouble);
  at::Tensor mask = at::tensor({1.0, 1.0, 1.0, 0.0}, at::kDouble).reshape({2, 2});
  SamplingCorrectionOptions o{.mode = "token_mask", .clip_min = 0.5, .clip_max = 2.0};
  SamplingCorrection c = value_or_throw(sampling_correction(old, sampling, mask, o));
  EXPECT_NEAR(c.weights[0][0].item<double>(), std::exp(0.1), 1e-12);
  EXPECT_EQ(c.weights[0][1].item<double>(), 0.0);  // e^1 > 2
  EXPECT_EQ(c.weights[1][0].item<double>(), 0.0);  // e^-1 < 0.5
  EXPECT_NEAR(c.metrics.at("sampling/masked_fraction").item<double>(), 2.0 / 3.0, 1e-12);
  double k3 = (std::exp(0.1) - 1.1) + (std::exp(1.0) - 2.0) + (std::exp(-1.0) + 1.0 - 1.0);
  EXPECT_NEAR(c.metrics.at("mismatch_kl").item<double>(), k3 / 3.0, 1e-12);

  o.mode = "sequence_truncate";
  o.clip_min.reset();
  c = value_or_throw(sampling_correction(old, sampling, mask, o));
  ASSERT_EQ(c.weights.sizes(), (at::IntArrayRef{2, 1}));
  EXPECT_NEAR(c.weights[0][0].item<double>(), 2.0, 1e-12);  // e^1.1 truncated at 2
  EXPECT_NEAR(c.weights[1][0].item<double>(), std::exp(-1.0), 1e-12);
  EXPECT_NEAR(c.metrics.at("sampling/truncated_fraction").item<double>(), 2.0 / 3.0, 1e-12);
}

TEST(SamplingCorrection, ErrorsNameTheModeOrShape) {
  at::Tensor x = at::zeros({2, 3});
  auto bad = sampling_correction(x, x, x, {.mode = "icepop"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("importance_sampling_mode 'icepop' is unknown (known: sequence_mask"),
            std::string::npos);
  auto shape = sampling_correction(x, at::zeros({2, 2}), x, {});
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("[B,T] tensors of one shape"), std::string::npos);
}

}  // namespace
}  // namespace r1
