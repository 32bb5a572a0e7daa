// The model's matrix products: at::linear / at::matmul, except that fp32
// CPU products run on oneDNN's matmul (forward and backward) instead of
// ATen's default, MKL sgemm.
//
// Why: on the AVX-512 CPUs we train on (AMD here), MKL runs its AVX2 code
// path while oneDNN uses AVX-512: the model's GEMMs measured 2x faster
// (e.g. [512 x 256] x [256 x 704]: 903 us MKL, 408 us oneDNN), and MKL spent
// most of a decode step's small attention products ([4 x 32] @ [32 x S])
// packing operands. ATen already sends bf16/fp16 products to oneDNN.
#pragma once

#include <ATen/ATen.h>

// Called qualified (gemm::linear), so argument-dependent lookup never
// confuses these with at::linear / at::matmul.
namespace r1::gemm {

// True when x's products take the oneDNN path: a CPU fp32 tensor, ATen built
// with oneDNN, and a CPU on which its fp32 matmul runs (AVX-512 or AVX-NE-CONVERT).
bool onednn_applies(const at::Tensor& x);

// x [..., in] w [out, in]^T + b -> [..., out]; differentiable in x and w
// (and b). Same arithmetic as at::linear up to fp32 summation order.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {});

// Batched a [..., M, K] @ b [..., K, N] -> [..., M, N] (same batch dims, no
// broadcasting); differentiable in both.
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b);

}  // namespace r1::gemm
