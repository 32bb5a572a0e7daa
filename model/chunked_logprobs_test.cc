#include "model/chunked_logprobs.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

struct Full {
  at::Tensor logprobs, entropy, grad_hidden, grad_weight;
};

// The reference: all logits at once, autograd through log_softmax.
Full full(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets, double temperature,
          const at::Tensor& upstream) {
  at::Tensor h = hidden.detach().requires_grad_(), w = weight.detach().requires_grad_();
  at::Tensor logits = at::linear(h, w).to(at::kFloat) / temperature;
  at::Tensor logprobs = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
  at::Tensor entropy = -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1);
  (logprobs * upstream).sum().backward();
  return {logprobs.detach(), entropy.detach(), h.grad(), w.grad()};
}

Full chunked(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets, double temperature,
             const at::Tensor& upstream, int64_t rows_per_chunk) {
  at::Tensor h = hidden.detach().requires_grad_(), w = weight.detach().requires_grad_(), entropy;
  at::Tensor logprobs = chunked_target_logprobs(h, w, targets, temperature, &entropy, rows_per_chunk);
  EXPECT_FALSE(entropy.requires_grad());
  (logprobs * upstream).sum().backward();
  return {logprobs.detach(), entropy, h.grad(), w.grad()};
}

double max_rel(const at::Tensor& got, const at::Tensor& want) {
  at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  return ((g - w).abs().max() / (w.abs().max() + 1e-30)).item<double>();
}

TEST(ChunkedLogprobs, EqualTheFullComputationInValuesAndGradients) {
  at::manual_seed(0);
  const int64_t R = 37, H = 24, V = 301;
  at::Tensor hidden = at::randn({R, H}), weight = at::randn({V, H}) * 0.3;
  at::Tensor targets = at::randint(V, {R}, at::kLong);
  at::Tensor upstream = at::linspace(-1.0, 2.0, R);  // a different weight per row
  for (double temperature : {1.0, 0.7}) {
    Full want = full(hidden, weight, targets, temperature, upstream);
    for (int64_t chunk : {1, 5, 36, 37, 0}) {  // 0: the default, one chunk here
      Full got = chunked(hidden, weight, targets, temperature, upstream, chunk);
      SCOPED_TRACE("T " + std::to_string(temperature) + ", rows per chunk " + std::to_string(chunk));
      EXPECT_LE(max_rel(got.logprobs, want.logprobs), 1e-6);
      EXPECT_LE(max_rel(got.entropy, want.entropy), 1e-6);
      EXPECT_LE(max_rel(got.grad_hidden, want.grad_hidden), 1e-5);
      EXPECT_LE(max_rel(got.grad_weight, want.grad_weight), 1e-5);
    }
  }
}

TEST(ChunkedLogprobs, Bf16WeightsGiveBf16GradientsCloseToFp32) {
  at::manual_seed(1);
  const int64_t R = 16, H = 32, V = 129;
  at::Tensor hidden = at::randn({R, H}), weight = at::randn({V, H}) * 0.3;
  at::Tensor targets = at::randint(V, {R}, at::kLong), upstream = at::ones({R});
  Full want = full(hidden, weight, targets, 1.0, upstream);
  Full got = chunked(hidden.to(at::kBFloat16), weight.to(at::kBFloat16), targets, 1.0, upstream, 3);
  EXPECT_EQ(got.grad_hidden.scalar_type(), at::kBFloat16);
  EXPECT_EQ(got.grad_weight.scalar_type(), at::kBFloat16);
  EXPECT_EQ(got.logprobs.scalar_type(), at::kFloat);
  // bf16 inputs: within bf16's resolution (2^-8 relative) of the fp32 reference.
  EXPECT_LE(max_rel(got.logprobs, want.logprobs), 2e-2);
  EXPECT_LE(max_rel(got.grad_weight, want.grad_weight), 3e-2);
}

}  // namespace
}  // namespace r1
