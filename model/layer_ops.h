// Small building blocks shared by the decoder's attention variants
// (model/transformer.cc, model/mla_attention.cc) and its MLPs (model/moe.cc),
// with transformers' arithmetic.
#pragma once

#include <ATen/ATen.h>

#include <initializer_list>
#include <utility>
#include <vector>

namespace r1 {

// Whether an op may run as one of model/cuda_kernels.h's fused kernels
// (which record no autograd) on these inputs: CUDA tensors, those kernels
// built, and no gradient to record for any of them.
bool use_fused_kernels(std::initializer_list<at::Tensor> inputs);

// RMSNorm as transformers computes it: in fp32, cast back, then scale (on
// the CPU one fused kernel forward and one backward, model/cpu_kernels.h).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// {x + delta, rms_norm(x + delta)}: a residual add and the norm after it.
std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight,
                                               double eps);

// silu(gate) * up from a fused projection's output [..., 2F] = [gate | up].
at::Tensor silu_mul(const at::Tensor& gate_up);

// silu(gate) * up from the separate projections' outputs [..., F].
at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up);

// RoPE's cos and sin tables [..., D] in `dtype` for angles [..., D/2] (fp32,
// as transformers computes them), times `factor` (YaRN's; else 1). The sin
// table's first half is negated: the form apply_rope takes.
std::pair<at::Tensor, at::Tensor> rope_tables(const at::Tensor& angles, double factor, at::ScalarType dtype);

// RoPE on x [..., D] with tables from rope_tables, broadcastable to it:
// x cos + rotate_half(x) sin, computed as x cos + swap_halves(x) signed_sin
// (the same numbers, one copy instead of a negation and a concatenation).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& signed_sin);

// Padding-free layouts (Transformer::forward's `packed` [T]: indices of the
// real tokens in a flattened [B, L]): rows `packed` of x [B, L, F] (or of any
// x, flattened to rows of F) -> [T, F], and back into zero-padded rows
// [B, L, F]. Both differentiable.
at::Tensor pack_tokens(const at::Tensor& x, const at::Tensor& packed);
at::Tensor unpack_tokens(const at::Tensor& x, const at::Tensor& packed, int64_t B, int64_t L);
// `packed` for rows of these lengths in a [B, L] layout (built on the host):
// the first lengths[b] positions of each row b, row by row.
std::vector<int64_t> packed_positions(const std::vector<int64_t>& lengths, int64_t L);

// silu(x gate^T) * (x up^T), then down: the SwiGLU MLP without biases.
at::Tensor swiglu(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& up, const at::Tensor& down);

}  // namespace r1
