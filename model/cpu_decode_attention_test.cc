#include "model/cpu_decode_attention.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace r1 {
namespace {

constexpr float kHidden = -std::numeric_limits<float>::infinity();

// softmax(q k^T / sqrt(D) + mask) v in double, ATen ops only.
at::Tensor reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-1, -2)) * scale + mask.to(at::kDouble);
  return at::matmul(at::softmax(scores, -1), v.to(at::kDouble));
}

// A cache-shaped problem: k/v are the first S slots of a larger cache (a
// strided view), and row b sees keys [0, visible[b]) only.
struct Problem {
  at::Tensor q, k, v, mask;
};

Problem make_problem(int64_t B, int64_t KV, int64_t M, int64_t S, int64_t D, const std::vector<int64_t>& visible) {
  Problem p;
  p.q = at::randn({B, KV, M, D});
  p.k = at::randn({B, KV, S + 5, D}).narrow(2, 0, S);
  p.v = at::randn({B, KV, S + 5, D}).narrow(2, 0, S);
  p.mask = at::zeros({B, 1, M, S});
  for (int64_t b = 0; b < B; ++b) p.mask[b].narrow(-1, visible[b], S - visible[b]).fill_(kHidden);
  return p;
}

void expect_equals_reference(const Problem& p) {
  ASSERT_TRUE(cpu_decode_attention_applies(p.q, p.k, p.v, p.mask));
  at::Tensor out = cpu_decode_attention(p.q, p.k, p.v, p.mask);
  ASSERT_EQ(out.sizes(), p.q.sizes());
  EXPECT_TRUE(out.is_contiguous());
  double diff = (out.to(at::kDouble) - reference(p.q, p.k, p.v, p.mask)).abs().max().item<double>();
  EXPECT_LT(diff, 1e-5) << "q " << p.q.sizes() << " k " << p.k.sizes();
}

bool kernel_runs_here() { return cpu_decode_attention_applies(at::zeros({1, 1, 1, 8}), at::zeros({1, 1, 1, 8}),
                                                              at::zeros({1, 1, 1, 8}), at::zeros({1, 1, 1, 1})); }

TEST(CpuDecodeAttention, EqualsSoftmaxAttentionOverTheVisibleKeys) {
  if (!kernel_runs_here()) GTEST_SKIP() << "this CPU has no AVX2/FMA: the ATen path runs";
  at::manual_seed(0);
  // Decode-shaped (4 query heads per KV head, a 37-slot cache: four blocks of
  // eight and a tail); one row sees a single key, one sees all of them.
  expect_equals_reference(make_problem(3, 2, 4, 37, 32, {1, 37, 20}));
  // One query row, head_dim 64, a cache of exactly one block.
  expect_equals_reference(make_problem(2, 1, 1, 8, 64, {8, 3}));
  // The most query rows it takes, head_dim 8, a short cache with no full block.
  expect_equals_reference(make_problem(2, 3, kCpuDecodeQueryRows, 5, 8, {5, 2}));
  // head_dim 136: the value kernel's passes of four vectors leave one over.
  expect_equals_reference(make_problem(1, 2, 3, 70, 136, {65}));
  // Where the CPU has AVX-512 (head_dim a multiple of 16): seven query rows
  // (groups of four and three), head_dim 48 (slices of 32 and 16), 64 and
  // 128 (slices of 64), caches whose length leaves a tail of keys.
  expect_equals_reference(make_problem(2, 2, 7, 23, 48, {23, 9}));
  expect_equals_reference(make_problem(2, 1, 6, 130, 64, {130, 77}));
  expect_equals_reference(make_problem(1, 2, 2, 67, 128, {61}));
  expect_equals_reference(make_problem(3, 1, 5, 16, 16, {1, 16, 15}));
}

TEST(CpuDecodeAttention, KeysHiddenInTheMiddleAndPerQueryRow) {
  if (!kernel_runs_here()) GTEST_SKIP() << "this CPU has no AVX2/FMA: the ATen path runs";
  at::manual_seed(1);
  Problem p = make_problem(2, 2, 4, 50, 32, {50, 50});
  p.mask.narrow(-1, 8, 24).fill_(kHidden);           // whole blocks hidden between visible ones
  p.mask.select(2, 1).narrow(-1, 40, 10).fill_(kHidden);  // one query row sees fewer keys
  p.mask.select(2, 2).narrow(-1, 3, 2).fill_(kHidden);    // part of a block
  expect_equals_reference(p);
  // The same with head_dim 64 (the AVX-512 kernels where the CPU has them).
  Problem wide = make_problem(2, 2, 4, 50, 64, {50, 50});
  wide.mask.copy_(p.mask);
  expect_equals_reference(wide);
}

// bf16 against the explicit path's ATen ops (model/transformer.cc): scores
// and softmax in fp32, probabilities cast to bf16, a bf16 product with v.
TEST(CpuDecodeAttention, Bf16EqualsTheExplicitPathWithinARounding) {
  if (!kernel_runs_here()) GTEST_SKIP() << "this CPU has no AVX2/FMA: the ATen path runs";
  at::manual_seed(2);
  for (const Problem& fp32 : {make_problem(3, 2, 4, 37, 32, {1, 37, 20}), make_problem(1, 2, 3, 70, 136, {65}),
                              make_problem(2, 2, 7, 45, 64, {45, 30})}) {
    Problem p{fp32.q.to(at::kBFloat16), fp32.k.to(at::kBFloat16), fp32.v.to(at::kBFloat16),
              fp32.mask.to(at::kBFloat16)};
    ASSERT_TRUE(cpu_decode_attention_applies(p.q, p.k, p.v, p.mask));
    at::Tensor out = cpu_decode_attention(p.q, p.k, p.v, p.mask);
    ASSERT_EQ(out.scalar_type(), at::kBFloat16);
    double scale = 1.0 / std::sqrt(static_cast<double>(p.q.size(-1)));
    at::Tensor scores = at::matmul(p.q.to(at::kFloat), p.k.to(at::kFloat).transpose(-1, -2)) * scale + p.mask;
    at::Tensor expected = at::matmul(at::softmax(scores, -1).to(at::kBFloat16), p.v);
    // Outputs are within [-4, 4]: a bf16 step there is at most 2^-6.
    double diff = (out.to(at::kFloat) - expected.to(at::kFloat)).abs().max().item<double>();
    EXPECT_LE(diff, 1.0 / 64) << "q " << p.q.sizes();
    double exact = (out.to(at::kDouble) - reference(p.q, p.k, p.v, p.mask)).abs().max().item<double>();
    EXPECT_LE(exact, 1.0 / 32) << "q " << p.q.sizes();
  }
}

TEST(CpuDecodeAttention, TakesOnlyWhatItComputes) {
  if (!kernel_runs_here()) GTEST_SKIP() << "this CPU has no AVX2/FMA: the ATen path runs";
  Problem p = make_problem(1, 1, 4, 9, 32, {9});
  auto applies = [](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
    return cpu_decode_attention_applies(q, k, v, mask);
  };
  EXPECT_FALSE(applies(p.q.to(at::kBFloat16), p.k, p.v, p.mask));  // mixed dtypes
  auto bf16 = [](const at::Tensor& t) { return t.to(at::kBFloat16); };
  EXPECT_TRUE(applies(bf16(p.q), bf16(p.k), bf16(p.v), bf16(p.mask)));
  auto fp16 = [](const at::Tensor& t) { return t.to(at::kHalf); };
  EXPECT_FALSE(applies(fp16(p.q), fp16(p.k), fp16(p.v), fp16(p.mask)));
  EXPECT_FALSE(applies(p.q, p.k.to(at::kDouble), p.v, p.mask));
  EXPECT_FALSE(applies(p.q.narrow(-1, 0, 12), p.k.narrow(-1, 0, 12), p.v.narrow(-1, 0, 12), p.mask));  // D % 8
  EXPECT_FALSE(applies(at::zeros({1, 1, kCpuDecodeQueryRows + 1, 32}), p.k, p.v,
                       at::zeros({1, 1, kCpuDecodeQueryRows + 1, 9})));  // prefill-sized
  EXPECT_FALSE(applies(p.q.transpose(2, 3), p.k, p.v, p.mask));  // strided head dimension
  EXPECT_FALSE(applies(p.q.clone().requires_grad_(), p.k, p.v, p.mask));  // autograd needs ATen's ops
  {
    at::AutoGradMode no_grad(false);
    EXPECT_TRUE(applies(p.q.clone().requires_grad_(), p.k, p.v, p.mask));
  }
  EXPECT_THROW(cpu_decode_attention(p.q, p.k, p.v, p.mask.narrow(-1, 0, 8)), c10::Error);  // mask of another length
}

}  // namespace
}  // namespace r1
