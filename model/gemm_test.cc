#include "model/gemm.h"

#include <gtest/gtest.h>

#include <functional>

namespace r1::gemm {
namespace {

using Function = std::function<at::Tensor(const std::vector<at::Tensor>&)>;

// ours(inputs) and theirs(inputs) give the same values and the same
// gradients for every input, within `tol` (fp32 summation order differs).
void expect_same_function(const Function& ours, const Function& theirs, const std::vector<at::Tensor>& inputs,
                          double tol) {
  std::vector<at::Tensor> a, b;
  for (const auto& t : inputs) {
    a.push_back(t.detach().clone().requires_grad_());
    b.push_back(t.detach().clone().requires_grad_());
  }
  at::Tensor y = ours(a), y_ref = theirs(b);
  ASSERT_EQ(y.sizes(), y_ref.sizes());
  EXPECT_TRUE(at::allclose(y, y_ref, tol, tol));
  at::Tensor upstream = at::randn(y.sizes());
  (y * upstream).sum().backward();
  (y_ref * upstream).sum().backward();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(at::allclose(a[i].grad(), b[i].grad(), tol, tol)) << "gradient of input " << i;
}

TEST(Gemm, MatchesAtLinearForwardAndBackward) {
  if (!onednn_applies(at::zeros({1})))
    GTEST_SKIP() << "no oneDNN path here (LibTorch without oneDNN, no AVX-512, or MKL chosen)";
  at::manual_seed(0);
  for (auto shape : std::vector<std::vector<int64_t>>{{5, 7, 48}, {64, 48}, {3, 1, 48}})
    expect_same_function([](const auto& in) { return gemm::linear(in[0], in[1], in[2]); },
                         [](const auto& in) { return at::linear(in[0], in[1], in[2]); },
                         {at::randn(shape), at::randn({33, 48}), at::randn({33})}, 1e-4);
}

// Batched products as attention uses them: 4-D, the right operand a
// transposed view (k^T) or a strided one.
// With a sink installed, a product's weight gradient lands in the sink's
// sum (added to what it held, across the weight's uses) and autograd gets
// none; the input's and the bias's gradients are autograd's as before.
// Runs on whichever path this CPU takes (MKL or oneDNN; the ctest variants
// force each).
TEST(Gemm, SinkSumsWeightGradientsInTheProduct) {
  at::manual_seed(3);
  const at::Tensor w0 = at::randn({33, 48}), b0 = at::randn({33}), x0 = at::randn({5, 7, 48}), x1 = at::randn({9, 48});
  at::Tensor up0 = at::randn({5, 7, 33}), up1 = at::randn({9, 33});
  auto loss = [&](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    return (gemm::linear(x, w, b) * up0).sum() + (gemm::linear(x1, w, b) * up1).sum() +
           (gemm::linear(x1, w) * up1 * 0.5).sum();  // one use without the bias
  };
  // Reference: plain autograd (no sink), the weight used three times.
  at::Tensor w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_(), x = x0.clone().requires_grad_();
  loss(x, w, b).backward();
  // With the sink: its sum starts from what it holds (here 1).
  at::Tensor ws = w0.clone().requires_grad_(), bs = b0.clone().requires_grad_(), xs = x0.clone().requires_grad_();
  // A held weight no product multiplies gets no sum.
  at::Tensor unused = at::randn({4, 4}).requires_grad_();
  std::vector<at::Tensor> sums = {at::ones_like(w0), at::Tensor(), at::Tensor()};
  {
    WeightGradSink sink({ws, bs.to(at::kDouble), unused}, sums);  // a double tensor is not held
    EXPECT_FALSE(sums[1].defined());
    loss(xs, ws, bs).backward();
  }
  EXPECT_FALSE(sums[2].defined());
  EXPECT_FALSE(ws.grad().defined()) << "autograd received the weight's gradient too";
  EXPECT_TRUE(at::allclose(sums[0], w.grad() + 1, 1e-4, 1e-4));
  EXPECT_TRUE(at::allclose(xs.grad(), x.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(bs.grad(), b.grad(), 1e-5, 1e-5));
  // Uninstalled: the next product returns its gradient to autograd again.
  (gemm::linear(x1, ws) * up1).sum().backward();
  EXPECT_TRUE(ws.grad().defined());
  EXPECT_TRUE(WeightGradSink::holds(ws));
  EXPECT_FALSE(WeightGradSink::holds(ws.detach()));
  at::Tensor w16 = ws.detach().to(at::kBFloat16).requires_grad_();
  EXPECT_EQ(WeightGradSink::holds(w16), upcast_applies(w16, w16));  // bf16: where its products run upcast
  EXPECT_FALSE(WeightGradSink::holds(ws.detach().to(at::kDouble).requires_grad_()));
}

// A bf16 weight whose products run upcast: its gradient reaches the fp32
// sum as the fp32 product of the bf16 operands, never rounded to bf16; the
// input's gradient is the unsunk path's.
TEST(Gemm, SinkSumsBf16WeightGradientsInFp32) {
  at::manual_seed(4);
  at::Tensor w16 = at::randn({33, 48}).to(at::kBFloat16), x16 = at::randn({9, 48}).to(at::kBFloat16);
  if (!upcast_applies(w16, w16)) GTEST_SKIP() << "bf16 products do not run upcast here";
  at::Tensor up = at::randn({9, 33});
  // Reference: the same bf16 values as fp32 leaves, and the upstream
  // gradient as the bf16 output receives it (rounded to bf16).
  at::Tensor w32 = w16.to(at::kFloat).requires_grad_(), x32 = x16.to(at::kFloat);
  (at::linear(x32, w32) * up.to(at::kBFloat16).to(at::kFloat)).sum().backward();
  // Unsunk, for the input's gradient.
  at::Tensor xa = x16.clone().requires_grad_(), wa = w16.clone().requires_grad_();
  (gemm::linear(xa, wa).to(at::kFloat) * up).sum().backward();
  at::Tensor xs = x16.clone().requires_grad_(), ws = w16.clone().requires_grad_();
  std::vector<at::Tensor> sums;
  {
    WeightGradSink sink({ws}, sums);
    (gemm::linear(xs, ws).to(at::kFloat) * up).sum().backward();
  }
  ASSERT_EQ(sums[0].scalar_type(), at::kFloat);
  EXPECT_FALSE(ws.grad().defined());
  EXPECT_TRUE(at::allclose(sums[0], w32.grad(), 1e-5, 1e-5)) << (sums[0] - w32.grad()).abs().max().item<double>();
  EXPECT_FALSE(at::equal(sums[0], sums[0].to(at::kBFloat16).to(at::kFloat)));  // not rounded to bf16
  EXPECT_TRUE(at::equal(xs.grad(), xa.grad()));
}

TEST(Gemm, BatchedMatmulMatchesAtMatmul) {
  at::manual_seed(1);
  expect_same_function(
      [](const auto& in) { return gemm::matmul(gemm::matmul(in[0], in[1].transpose(-1, -2)), in[2].transpose(1, 2)); },
      [](const auto& in) { return at::matmul(at::matmul(in[0], in[1].transpose(-1, -2)), in[2].transpose(1, 2)); },
      {at::randn({2, 3, 5, 8}), at::randn({2, 3, 7, 8}), at::randn({2, 7, 3, 4})}, 1e-4);
}

TEST(Gemm, OneDnnTakesCpuFp32Only) {
  EXPECT_FALSE(onednn_applies(at::zeros({2}, at::kBFloat16)));
  EXPECT_FALSE(onednn_applies(at::zeros({2}, at::kDouble)));
}

TEST(Gemm, PackedLinearMatchesAtLinear) {
  at::manual_seed(3);
  at::Tensor w = at::randn({96, 40}), b = at::randn({96});
  PackedWeight p = pack(w);
  if (!p.buffer.defined()) GTEST_SKIP() << "no MKL fp32 path here (oneDNN's AVX-512 path, or LibTorch without MKL)";
  c10::InferenceMode inference;
  for (int64_t rows : {1, 7, 32, 100}) {
    at::Tensor x = at::randn({rows, 2, 40});  // [..., in]: leading dims kept
    at::Tensor want = at::linear(x, w, b), got = linear(x, p, b);
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-5 * want.abs().max().item<double>()) << rows << " rows";
    EXPECT_LE((linear(x, p) - at::linear(x, w)).abs().max().item<double>(), 1e-5 * want.abs().max().item<double>());
  }
  at::Tensor w16 = w.to(at::kBFloat16), b16 = b.to(at::kBFloat16);
  PackedWeight p16 = pack(w16);
  // bf16 is packed as fp32 where its products run on MKL (upcast_applies),
  // and left to ATen (oneDNN) elsewhere.
  ASSERT_EQ(p16.buffer.defined(), upcast_applies(w16, w16));
  if (!p16.buffer.defined()) return;
  for (int64_t rows : {1, 32}) {
    at::Tensor x = at::randn({rows, 40}).to(at::kBFloat16);
    at::Tensor want = at::linear(x, w16, b16), got = linear(x, p16, b16);
    EXPECT_EQ(got.scalar_type(), at::kBFloat16);
    EXPECT_TRUE(at::allclose(got.to(at::kFloat), want.to(at::kFloat), 1.0 / 64, 1.0 / 64)) << rows << " rows";
  }
  EXPECT_THROW(linear(at::randn({2, 40}), p16), c10::Error);  // an fp32 input for a bf16 weight
}

TEST(Gemm, PackedLinearRefusesGradMode) {
  PackedWeight p = pack(at::randn({8, 4}));
  if (!p.buffer.defined()) GTEST_SKIP() << "no MKL fp32 path here";
  EXPECT_THROW(linear(at::randn({2, 4}), p), c10::Error);  // it would silently cut the graph
}

// bf16/fp16 where they are upcast (gemm.h): fp32 products rounded once, against
// ATen's own reduced-precision products (fp32 sums in another order), values
// and gradients, within a rounding step of the dtype.
TEST(Gemm, ReducedPrecisionProductsEqualAtensWithinARounding) {
  std::vector<at::ScalarType> upcast;
  for (at::ScalarType dtype : {at::kBFloat16, at::kHalf})
    if (upcast_applies(at::zeros({1}, dtype), at::zeros({1}, dtype))) upcast.push_back(dtype);
  if (upcast.empty()) GTEST_SKIP() << "bf16 and fp16 products run on oneDNN here (gemm.h)";
  at::manual_seed(4);
  for (at::ScalarType dtype : upcast) {
    auto in = [&](std::vector<int64_t> shape) { return at::randn(shape).to(dtype); };
    double tol = dtype == at::kBFloat16 ? 1.0 / 64 : 1.0 / 512;
    expect_same_function([](const auto& t) { return gemm::linear(t[0], t[1], t[2]); },
                         [](const auto& t) { return at::linear(t[0], t[1], t[2]); },
                         {in({3, 5, 48}), in({33, 48}), in({33})}, tol);
    expect_same_function([](const auto& t) { return gemm::linear(t[0], t[1]); },
                         [](const auto& t) { return at::linear(t[0], t[1]); }, {in({7, 48}), in({16, 48})}, tol);
    expect_same_function(
        [](const auto& t) { return gemm::matmul(gemm::matmul(t[0], t[1].transpose(-1, -2)), t[2]); },
        [](const auto& t) { return at::matmul(at::matmul(t[0], t[1].transpose(-1, -2)), t[2]); },
        {in({2, 3, 5, 8}), in({2, 3, 7, 8}), in({2, 3, 7, 4})}, tol);
  }
  at::Tensor x = at::randn({4, 8}).to(at::kBFloat16).requires_grad_(), w = at::randn({3, 8}).to(at::kBFloat16);
  at::Tensor y = gemm::linear(x, w);
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  y.sum().backward();
  EXPECT_EQ(x.grad().scalar_type(), at::kBFloat16);
  EXPECT_FALSE(upcast_applies(at::zeros({1}), at::zeros({1})));                       // fp32: MKL or oneDNN
  EXPECT_FALSE(upcast_applies(at::zeros({1}, at::kBFloat16), at::zeros({1})));        // mixed dtypes: ATen decides
}

}  // namespace
}  // namespace r1::gemm
