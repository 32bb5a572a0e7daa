#include "model/layer_ops.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "model/cpu_kernels.h"
#include "model/cuda_kernels.h"
#include "model/gemm.h"

namespace r1 {

bool use_fused_kernels(std::initializer_list<at::Tensor> inputs) {
  if (!cuda::kernels_built) return false;
  const bool recording = at::GradMode::is_enabled();
  return std::all_of(inputs.begin(), inputs.end(),
                     [&](const at::Tensor& t) { return t.is_cuda() && !(recording && t.requires_grad()); });
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  if constexpr (cuda::kernels_built)
    if (use_fused_kernels({x, weight})) return cuda::rms_norm(x.contiguous(), weight, eps);
  if (cpu::kernels_apply({x, weight})) return cpu::rms_norm(x, weight, eps);
  // x rsqrt(mean(x^2) + eps) in fp32, rounded once to x's dtype as
  // transformers rounds it.
  return weight * std::get<0>(at::_fused_rms_norm(x, {x.size(-1)}, std::nullopt, eps));
}

std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight,
                                               double eps) {
  if constexpr (cuda::kernels_built)
    if (use_fused_kernels({x, delta, weight}))
      return cuda::add_rms_norm(x.contiguous(), delta.contiguous(), weight, eps);
  at::Tensor sum = x + delta;
  return {sum, rms_norm(sum, weight, eps)};
}

at::Tensor silu_mul(const at::Tensor& gate_up) {
  if constexpr (cuda::kernels_built)
    if (use_fused_kernels({gate_up})) return cuda::silu_mul(gate_up.contiguous());
  int64_t F = gate_up.size(-1) / 2;
  return silu_mul(gate_up.narrow(-1, 0, F), gate_up.narrow(-1, F, F));
}

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  if (cpu::kernels_apply({gate, up})) return cpu::silu_mul(gate, up);
  return at::silu(gate) * up;
}

std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& angles, double factor, at::ScalarType dtype) {
  at::Tensor emb = at::cat({angles, angles}, -1);  // cos/sin of this tensor, as transformers takes them
  at::Tensor cos = emb.cos(), sin = emb.sin();
  if (factor != 1.0) cos = cos * factor, sin = sin * factor;
  sin.narrow(-1, 0, angles.size(-1)).neg_();
  return {cos.to(dtype), sin.to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& signed_sin) {
  if (cpu::kernels_apply({x, cos, signed_sin})) return cpu::rope(x, cos, signed_sin);  // tables take no gradient
  at::Tensor swapped = x.unflatten(-1, {2, x.size(-1) / 2}).flip(-2).flatten(-2);  // [x2, x1]
  return x * cos + swapped * signed_sin;
}

at::Tensor pack_tokens(const at::Tensor& x, const at::Tensor& packed) {
  return x.reshape({-1, x.size(-1)}).index_select(0, packed);
}

at::Tensor unpack_tokens(const at::Tensor& x, const at::Tensor& packed, int64_t B, int64_t L) {
  return at::zeros({B * L, x.size(-1)}, x.options()).index_copy(0, packed, x).view({B, L, x.size(-1)});
}

std::vector<int64_t> packed_positions(const std::vector<int64_t>& lengths, int64_t L) {
  std::vector<int64_t> out;
  for (size_t b = 0; b < lengths.size(); ++b)
    for (int64_t t = 0; t < lengths[b]; ++t) out.push_back(static_cast<int64_t>(b) * L + t);
  return out;
}

at::Tensor swiglu(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& up, const at::Tensor& down) {
  return gemm::linear(silu_mul(gemm::linear(x, gate), gemm::linear(x, up)), down);
}

}  // namespace r1
