#include "model/gemm.h"

#include <ATen/Config.h>
#include <ATen/cpu/Utils.h>
#include <torch/csrc/autograd/custom_function.h>

// Exported by libtorch_cpu but declared in a header the wheel does not ship
// (ATen/native/mkldnn/Matmul.h): result = beta * result + alpha * mat1 @ mat2.
namespace at::native {
TORCH_API void mkldnn_matmul(const Tensor& mat1, const Tensor& mat2, const Tensor& result, float beta, float alpha);
}  // namespace at::native

namespace r1::gemm {

namespace {

// a [M, K] @ b [K, N], or batched over a leading dim; a and b contiguous
// or transposed (last two dims) views of contiguous tensors.
at::Tensor matmul_2d(const at::Tensor& a, const at::Tensor& b) {
  std::vector<int64_t> shape(a.sizes().begin(), a.sizes().end());
  shape.back() = b.size(-1);
  at::Tensor out = at::empty(shape, a.options());
  at::native::mkldnn_matmul(a, b, out, /*beta=*/0.0f, /*alpha=*/1.0f);
  return out;
}

struct OneDnnLinear : torch::autograd::Function<OneDnnLinear> {
  // x [M, in], w [out, in] -> [M, out]
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w) {
    ctx->save_for_backward({x, w});
    return matmul_2d(x, w.t());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor grad = grads[0].contiguous();  // [M, out]
    at::Tensor grad_x = ctx->needs_input_grad(0) ? matmul_2d(grad, saved[1]) : at::Tensor();      // [M, in]
    at::Tensor grad_w = ctx->needs_input_grad(1) ? matmul_2d(grad.t(), saved[0]) : at::Tensor();  // [out, in]
    return {grad_x, grad_w};
  }
};

struct OneDnnBatchedMatmul : torch::autograd::Function<OneDnnBatchedMatmul> {
  // a [n, M, K], b [n, K, N] -> [n, M, N]
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b) {
    ctx->save_for_backward({a, b});
    return matmul_2d(a, b);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor grad = grads[0].contiguous();  // [n, M, N]
    at::Tensor grad_a = ctx->needs_input_grad(0) ? matmul_2d(grad, saved[1].transpose(1, 2)) : at::Tensor();
    at::Tensor grad_b = ctx->needs_input_grad(1) ? matmul_2d(saved[0].transpose(1, 2), grad) : at::Tensor();
    return {grad_a, grad_b};
  }
};

// at::native::mkldnn_matmul accepts fp32 only where oneDNN's bf16 device
// check passes (AVX-512 BW/VL/DQ or AVX-NE-CONVERT) and throws elsewhere,
// e.g. on AVX2-only CPUs, which therefore keep ATen's products.
bool cpu_runs_onednn_matmul() {
  static const bool ok = [] {
    auto caps = at::cpu::get_cpu_capabilities();
    auto has = [&](const char* key) {
      auto it = caps.find(key);
      return it != caps.end() && it->second.isBool() && it->second.toBool();
    };
    return (has("avx512_bw") && has("avx512_vl") && has("avx512_dq")) || has("avx_ne_convert");
  }();
  return ok;
}

}  // namespace

bool onednn_applies(const at::Tensor& x) {
  return AT_MKLDNN_ENABLED() && x.is_cpu() && x.scalar_type() == at::kFloat && cpu_runs_onednn_matmul();
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (!onednn_applies(x)) return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = w.size(0);
  at::Tensor y = OneDnnLinear::apply(x.reshape({-1, x.size(-1)}).contiguous(), w).view(out_shape);
  return b.defined() ? y + b : y;
}

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b) {
  if (!onednn_applies(a)) return at::matmul(a, b);
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  std::vector<int64_t> out_shape(a.sizes().begin(), a.sizes().end());
  out_shape.back() = N;
  // Fold the batch dims into one, into a layout oneDNN reads: contiguous, or
  // a transposed view of a contiguous tensor (k^T stays a view).
  auto fold = [](const at::Tensor& t, int64_t rows, int64_t cols) {
    bool transposed = !t.is_contiguous() && t.transpose(-1, -2).is_contiguous();
    return transposed ? t.transpose(-1, -2).reshape({-1, cols, rows}).transpose(1, 2)
                      : t.reshape({-1, rows, cols}).contiguous();
  };
  return OneDnnBatchedMatmul::apply(fold(a, M, K), fold(b, K, N)).view(out_shape);
}

}  // namespace r1::gemm
