#include "model/cpu_kernels.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>

namespace r1::cpu {
namespace {

using Function = std::function<at::Tensor(const std::vector<at::Tensor>&)>;

// The ATen compositions the kernels replace (transformers' eager ops), run in fp64.
at::Tensor rms_norm_reference(const std::vector<at::Tensor>& in) {
  const at::Tensor &x = in[0], &w = in[1];
  return w * (x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6));
}
at::Tensor silu_mul_reference(const std::vector<at::Tensor>& in) { return at::silu(in[0]) * in[1]; }

at::Tensor swap_halves(const at::Tensor& x) { return x.unflatten(-1, {2, x.size(-1) / 2}).flip(-2).flatten(-2); }
// in = {x, cos, signed_sin}
at::Tensor rope_reference(const std::vector<at::Tensor>& in) { return in[0] * in[1] + swap_halves(in[0]) * in[2]; }

at::Tensor rms_norm_ours(const std::vector<at::Tensor>& in) { return rms_norm(in[0], in[1], 1e-6); }
at::Tensor silu_mul_ours(const std::vector<at::Tensor>& in) { return silu_mul(in[0], in[1]); }

struct Result {
  at::Tensor value;
  std::vector<at::Tensor> grads;
};

// f's value and the gradients of sum(f * upstream) for inputs of `dtype`,
// made from `inputs` by `prepare` (e.g. a strided view).
Result run(const Function& f, const std::vector<at::Tensor>& inputs, at::ScalarType dtype, const at::Tensor& upstream,
           const std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>& prepare) {
  std::vector<at::Tensor> leaves;
  for (const auto& t : inputs) leaves.push_back(t.to(dtype).detach().requires_grad_());
  at::Tensor y = f(prepare(leaves));
  (y.to(at::kDouble) * upstream).sum().backward();
  Result r{y.detach(), {}};
  for (const auto& l : leaves) r.grads.push_back(l.grad());
  return r;
}

std::vector<at::Tensor> as_is(const std::vector<at::Tensor>& t) { return t; }

// Ours in `dtype` against the composition in fp64 (on the same inputs rounded
// to `dtype`): within `tol`, relative to each tensor's largest magnitude.
void expect_close(const Function& ours, const Function& reference, const std::vector<at::Tensor>& inputs,
                  at::ScalarType dtype, double tol,
                  const std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>& prepare = as_is) {
  std::vector<at::Tensor> rounded;
  for (const auto& t : inputs) rounded.push_back(t.to(dtype).to(at::kDouble));
  at::Tensor upstream = at::randn(ours(prepare(inputs)).sizes(), at::kDouble);
  Result a = run(ours, rounded, dtype, upstream, prepare);
  Result exact = run(reference, rounded, at::kDouble, upstream, prepare);
  auto error = [](const at::Tensor& t, const at::Tensor& ref) {
    return (t.to(at::kDouble) - ref).abs().max().item<double>() / std::max(ref.abs().max().item<double>(), 1e-30);
  };
  EXPECT_LT(error(a.value, exact.value), tol) << "values";
  for (size_t i = 0; i < inputs.size(); ++i) EXPECT_LT(error(a.grads[i], exact.grads[i]), tol) << "gradient " << i;
  EXPECT_EQ(a.value.scalar_type(), dtype);
}

TEST(CpuKernels, RmsNormMatchesTheCompositionInValuesAndGradients) {
  if (!kernels_apply({at::zeros({1})})) GTEST_SKIP() << "no AVX2/FMA";
  at::manual_seed(0);
  // Rows not a multiple of 8 wide (the vector tails), several 32-row blocks
  // of the weight's gradient, and one row.
  for (auto shape : {std::vector<int64_t>{3, 5, 37}, {70, 256}, {1, 8}}) {
    at::Tensor x = at::randn(shape) * 3, w = at::randn({shape.back()});
    expect_close(rms_norm_ours, rms_norm_reference, {x, w}, at::kFloat, 2e-6);
    expect_close(rms_norm_ours, rms_norm_reference, {x, w}, at::kBFloat16, 1.6e-2);
    expect_close(rms_norm_ours, rms_norm_reference, {x, w}, at::kHalf, 4e-3);
  }
  // A transposed (non-contiguous) input.
  at::Tensor x = at::randn({16, 9}), w = at::randn({16});
  expect_close(rms_norm_ours, rms_norm_reference, {x, w}, at::kFloat, 2e-6,
               [](const std::vector<at::Tensor>& t) { return std::vector<at::Tensor>{t[0].t(), t[1]}; });
}

TEST(CpuKernels, SiluMulMatchesTheCompositionInValuesAndGradients) {
  if (!kernels_apply({at::zeros({1})})) GTEST_SKIP() << "no AVX2/FMA";
  at::manual_seed(1);
  for (auto shape : {std::vector<int64_t>{3, 5, 37}, {64, 704}, {1, 8}}) {
    at::Tensor g = at::randn(shape) * 4, u = at::randn(shape);
    expect_close(silu_mul_ours, silu_mul_reference, {g, u}, at::kFloat, 2e-6);
    expect_close(silu_mul_ours, silu_mul_reference, {g, u}, at::kBFloat16, 1.6e-2);
    expect_close(silu_mul_ours, silu_mul_reference, {g, u}, at::kHalf, 4e-3);
  }
  // The two halves of one fused projection's output: rows strided by 2F.
  at::Tensor gate_up = at::randn({4, 6, 2 * 37}) * 4;
  expect_close(silu_mul_ours, silu_mul_reference, {gate_up}, at::kFloat, 2e-6, [](const std::vector<at::Tensor>& t) {
    return std::vector<at::Tensor>{t[0].narrow(-1, 0, 37), t[0].narrow(-1, 37, 37)};
  });
  // Rows of whole vectors take at::silu's own exp and roundings: the same bits.
  for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    at::Tensor g = (at::randn({5, 64}) * 4).to(dtype), u = at::randn({5, 64}).to(dtype);
    EXPECT_TRUE(at::equal(silu_mul(g, u), at::silu(g) * u)) << dtype;
  }
  // Large |gate|: exp overflows to inf for very negative gates, silu -> -0.
  at::Tensor g = at::tensor({-100.0f, -88.0f, -20.0f, 0.0f, 20.0f, 88.0f, 100.0f, 1e-30f, -1e-30f});
  at::Tensor y = silu_mul(g, at::ones_like(g));
  EXPECT_TRUE(at::allclose(y, at::silu(g), 1e-6, 1e-30)) << y;
  EXPECT_FALSE(y.isnan().any().item<bool>());
  // NaN stays NaN through the bf16 rounding (not a large finite number or inf).
  at::Tensor nan = at::full({16}, std::numeric_limits<float>::quiet_NaN()).to(at::kBFloat16);
  EXPECT_TRUE(silu_mul(nan, nan).isnan().all().item<bool>());
  EXPECT_TRUE(rms_norm(nan.view({2, 8}), at::ones({8}, at::kBFloat16), 1e-6).isnan().all().item<bool>());
}

// cos and signed sin tables [B, 1, L, D] (or another layout) for angles.
std::vector<at::Tensor> rope_tables_for(std::vector<int64_t> shape) {
  at::Tensor angles = at::rand(shape) * 6;
  at::Tensor sin = angles.sin();
  sin.narrow(-1, 0, shape.back() / 2).neg_();
  return {angles.cos(), sin};
}

TEST(CpuKernels, RopeMatchesTheCompositionInValuesAndGradients) {
  if (!kernels_apply({at::zeros({1})})) GTEST_SKIP() << "no AVX2/FMA";
  at::manual_seed(3);
  // Queries [B, H, L, D] against tables [B, 1, L, D], as the decoder calls it;
  // D = 10 takes only the scalar tails, 80 both.
  for (int64_t D : {10, 64, 80}) {
    auto t = rope_tables_for({2, 1, 5, D});
    at::Tensor x = at::randn({2, 3, 5, D});
    for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
      auto tc = t[0].to(dtype), ts = t[1].to(dtype);  // tables in the compute dtype, as rope_tables gives them
      auto ours = [&](const std::vector<at::Tensor>& in) {  // (also called on the fp32 inputs, for the shape)
        return rope(in[0], tc.to(in[0].scalar_type()), ts.to(in[0].scalar_type()));
      };
      auto exact = [&](const std::vector<at::Tensor>& in) {
        return rope_reference({in[0], tc.to(at::kDouble), ts.to(at::kDouble)});
      };
      expect_close(ours, exact, {x}, dtype, dtype == at::kFloat ? 2e-6 : dtype == at::kHalf ? 4e-3 : 1.6e-2);
    }
  }
  // Strided inputs: a transposed [B, L, H, D] projection, and the queries and
  // keys of a fused projection [B, L, H + 2 KV, D] with tables [B, L, 1, D].
  auto t = rope_tables_for({2, 5, 1, 32});
  at::Tensor heads = at::randn({2, 5, 6, 32});
  at::Tensor c = t[0], s = t[1];
  expect_close([&](const std::vector<at::Tensor>& in) { return rope(in[0].narrow(2, 0, 4), c, s); },
               [&](const std::vector<at::Tensor>& in) {
                 return rope_reference({in[0].narrow(2, 0, 4), c.to(at::kDouble), s.to(at::kDouble)});
               },
               {heads}, at::kFloat, 2e-6);
  at::Tensor ct = c.transpose(1, 2), st = s.transpose(1, 2);  // [2, 1, 5, 32]
  expect_close([&](const std::vector<at::Tensor>& in) { return rope(in[0].transpose(1, 2), ct, st); },
               [&](const std::vector<at::Tensor>& in) {
                 return rope_reference({in[0].transpose(1, 2), ct.to(at::kDouble), st.to(at::kDouble)});
               },
               {heads}, at::kFloat, 2e-6);
  // Whole vectors in bf16/fp16: the same two rounded products and rounded
  // sum as the ATen ops (in fp32 the compiler may fuse a product and the sum:
  // one rounding fewer).
  for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    at::Tensor x = at::randn({2, 3, 5, 32}).to(dtype);
    auto tt = rope_tables_for({2, 1, 5, 32});
    at::Tensor cd = tt[0].to(dtype), sd = tt[1].to(dtype);
    at::Tensor ours = rope(x, cd, sd), theirs = rope_reference({x, cd, sd});
    if (dtype == at::kFloat)
      EXPECT_TRUE(at::allclose(ours, theirs, 0, 1e-6));
    else
      EXPECT_TRUE(at::equal(ours, theirs)) << dtype;
  }
}

// Activation checkpointing recomputes a layer with autograd on after a pass
// without it: both must give the same bits.
TEST(CpuKernels, ValuesDoNotDependOnAutogradOrTheThreadCount) {
  if (!kernels_apply({at::zeros({1})})) GTEST_SKIP() << "no AVX2/FMA";
  at::manual_seed(2);
  at::Tensor x = at::randn({200, 96}), w = at::randn({96}), g = at::randn({200, 96});
  const int threads = at::get_num_threads();
  auto compute = [&](bool grad, int n_threads) {
    at::set_num_threads(n_threads);
    at::Tensor xl = x.clone().requires_grad_(grad), wl = w.clone().requires_grad_(grad);
    at::Tensor y = rms_norm(xl, wl, 1e-6);
    at::Tensor z = silu_mul(y, g);
    std::vector<at::Tensor> out{y.detach(), z.detach()};
    if (grad) {
      z.sum().backward();
      out.push_back(xl.grad());
      out.push_back(wl.grad());
    }
    return out;
  };
  auto a = compute(true, 1), b = compute(false, 1), c = compute(true, 2);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(a[0], b[0]) && at::equal(a[1], b[1]));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i], c[i])) << "output " << i;
}

TEST(CpuKernels, RefusesWhatTheyDoNotTake) {
  at::Tensor x = at::ones({2, 4}, at::kInt);
  EXPECT_FALSE(kernels_apply({x}));
  EXPECT_FALSE(kernels_apply({at::ones({2, 4}, at::kDouble)}));
  EXPECT_FALSE(kernels_apply({at::ones({2, 4}), at::ones({4}, at::kBFloat16)}));  // mixed dtypes
  try {
    rms_norm(x, at::ones({4}, at::kInt), 1e-6);
    FAIL() << "an int tensor was taken";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cpu::rms_norm: x [2, 4] Int"), std::string::npos) << e.what();
  }
  EXPECT_THROW(silu_mul(at::ones({2, 4}), at::ones({2, 5})), c10::Error);
  EXPECT_THROW(rms_norm(at::ones({2, 4}), at::ones({5}), 1e-6), c10::Error);
}

}  // namespace
}  // namespace r1::cpu
