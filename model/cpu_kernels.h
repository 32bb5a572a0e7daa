// Fused CPU kernels for the decoder's element-wise steps, forward and
// backward, each replacing a chain of ATen kernels (and their autograd
// nodes) with one pass over the rows: RMSNorm's forward was five kernels and
// its backward about ten, SwiGLU's silu(gate) * up three and three, RoPE's
// four and four. The learner's non-GEMM time is mostly such passes.
//
// The arithmetic is transformers' eager ops' in fp32; for bf16/fp16 inputs
// every intermediate is rounded to the dtype where those ops round it (the
// normalised x before the weight, silu(gate) before the product, RoPE's two
// products before their sum), so values equal the composite ops' up to fp32
// summation order (and, in fp32, a product and a sum the compiler fuses into
// one rounding). Gradients are computed in fp32 and rounded once.
// model/layer_ops.cc calls them for CPU tensors; cpu_kernels_test.cc checks
// values and gradients against the ATen ops.
#pragma once

#include <ATen/ATen.h>

#include <initializer_list>

namespace r1::cpu {

// Whether these kernels take `inputs` (at least one): CPU tensors of one
// dtype, fp32, bf16 or fp16, on a CPU with AVX2, FMA and F16C (elsewhere
// layer_ops runs the ATen composition).
bool kernels_apply(std::initializer_list<at::Tensor> inputs);

// weight * x * rsqrt(mean(x^2, -1) + eps), x [..., H], weight [H] of x's
// dtype; differentiable in both.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// silu(gate) * up, gate and up [..., F] of one dtype (e.g. the two halves of
// a fused projection's output); differentiable in both.
at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up);

// RoPE: x cos + rotate_half(x) sin with the tables of layer_ops.h
// rope_tables (cos, signed sin), broadcastable to x [..., D]; differentiable
// in x (the tables take no gradient). The result is contiguous.
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& signed_sin);

}  // namespace r1::cpu
