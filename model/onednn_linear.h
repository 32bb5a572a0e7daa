// Matrix products of fp32 CPU tensors through oneDNN's matmul instead of
// ATen's default (MKL sgemm), forward and backward.
//
// Why: on the AVX-512 CPUs we train on (AMD Zen 5 here), MKL runs its AVX2
// code path while oneDNN uses AVX-512: the model's GEMMs measured 2x faster
// (e.g. [512 x 256] x [256 x 704]: 903 us MKL, 408 us oneDNN). ATen routes
// bf16/fp16 products to oneDNN itself but fp32 ones always to MKL.
#pragma once

#include <ATen/ATen.h>

namespace r1 {

// True when the functions below can take x: a CPU fp32 tensor and ATen built with oneDNN.
bool onednn_linear_applies(const at::Tensor& x);

// x [..., in] times w [out, in] transposed -> [..., out]; differentiable in
// both. Same arithmetic as at::linear up to summation order (fp32 rounding).
at::Tensor onednn_linear(const at::Tensor& x, const at::Tensor& w);

// Batched a [..., M, K] @ b [..., K, N] -> [..., M, N] (same batch dims, no
// broadcasting); differentiable in both. For attention: MKL spends most of
// a decode step's [4 x 32] @ [32 x S] products packing its operands.
at::Tensor onednn_matmul(const at::Tensor& a, const at::Tensor& b);

}  // namespace r1
