// Small building blocks shared by the decoder's attention variants
// (model/transformer.cc, model/mla_attention.cc) and its MLPs (model/moe.cc),
// with transformers' arithmetic.
#pragma once

#include <ATen/ATen.h>

namespace r1 {

// RMSNorm as transformers computes it: in fp32, cast back, then scale.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// RoPE on x [..., D] with cos/sin broadcastable to it: x cos + rotate_half(x) sin.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// silu(x gate^T) * (x up^T), then down: the SwiGLU MLP without biases.
at::Tensor swiglu(const at::Tensor& x, const at::Tensor& gate, const at::Tensor& up, const at::Tensor& down);

}  // namespace r1
