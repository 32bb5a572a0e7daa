#include "model/onednn_linear.h"

#include <gtest/gtest.h>

namespace r1 {
namespace {

// Values and both gradients equal at::linear's (MKL) up to fp32 summation order.
TEST(OneDnnLinear, MatchesAtLinearForwardAndBackward) {
  ASSERT_TRUE(onednn_linear_applies(at::zeros({1}))) << "this LibTorch has no oneDNN";
  at::manual_seed(0);
  for (auto shape : std::vector<std::vector<int64_t>>{{5, 7, 48}, {64, 48}, {3, 1, 48}}) {
    at::Tensor x = at::randn(shape).requires_grad_(), w = at::randn({33, 48}).requires_grad_();
    at::Tensor x_ref = x.detach().clone().requires_grad_(), w_ref = w.detach().clone().requires_grad_();
    at::Tensor y = onednn_linear(x, w), y_ref = at::linear(x_ref, w_ref);
    ASSERT_EQ(y.sizes(), y_ref.sizes());
    EXPECT_TRUE(at::allclose(y, y_ref, 1e-5, 1e-5));
    at::Tensor upstream = at::randn(y.sizes());
    (y * upstream).sum().backward();
    (y_ref * upstream).sum().backward();
    EXPECT_TRUE(at::allclose(x.grad(), x_ref.grad(), 1e-5, 1e-5));
    EXPECT_TRUE(at::allclose(w.grad(), w_ref.grad(), 1e-5, 1e-4));
  }
}

// Batched products as attention uses them: 4-D, the right operand a
// transposed view (k^T) or a strided one.
TEST(OneDnnLinear, BatchedMatmulMatchesAtMatmul) {
  at::manual_seed(1);
  at::Tensor a = at::randn({2, 3, 5, 8}).requires_grad_();
  at::Tensor k = at::randn({2, 3, 7, 8}).requires_grad_();
  at::Tensor v = at::randn({2, 7, 3, 4}).requires_grad_();
  at::Tensor a_ref = a.detach().clone().requires_grad_(), k_ref = k.detach().clone().requires_grad_(),
             v_ref = v.detach().clone().requires_grad_();
  at::Tensor y = onednn_matmul(onednn_matmul(a, k.transpose(-1, -2)), v.transpose(1, 2));  // [2, 3, 5, 4]
  at::Tensor y_ref = at::matmul(at::matmul(a_ref, k_ref.transpose(-1, -2)), v_ref.transpose(1, 2));
  ASSERT_EQ(y.sizes(), y_ref.sizes());
  EXPECT_TRUE(at::allclose(y, y_ref, 1e-4, 1e-4));
  at::Tensor upstream = at::randn(y.sizes());
  (y * upstream).sum().backward();
  (y_ref * upstream).sum().backward();
  EXPECT_TRUE(at::allclose(a.grad(), a_ref.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(at::allclose(k.grad(), k_ref.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(at::allclose(v.grad(), v_ref.grad(), 1e-4, 1e-4));
}

TEST(OneDnnLinear, AppliesToCpuFp32Only) {
  EXPECT_FALSE(onednn_linear_applies(at::zeros({2}, at::kBFloat16)));
  EXPECT_FALSE(onednn_linear_applies(at::zeros({2}, at::kDouble)));
}

}  // namespace
}  // namespace r1
