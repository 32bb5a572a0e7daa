// Attention for a few query rows against a KV cache on the CPU (decode
// steps): softmax(q k^T / sqrt(D) + mask) v in fp32 with AVX2/FMA kernels,
// for fp32 or bf16 tensors (bf16 is widened as it is read, so a bf16 cache
// is never copied to fp32).
//
// Why: ATen sends each (row, KV head) pair's [G x D] x [D x S] product to
// MKL separately, which repacks the keys on every call; at decode shapes
// (4 query heads per KV head, head_dim 32, ~130 cached tokens) MKL spent as
// long packing as multiplying. These kernels read each key and value once
// per pair and skip the keys the mask hides (the cache's unwritten tail);
// the softmax runs on each pair's scores while they are in cache. Where the
// CPU has AVX-512 and head_dim is a multiple of 16, kernels of sixteen
// lanes take four query rows at a time, so each key and value row is read
// once for the four: 1.6x the AVX2 kernels' speed at Qwen2.5 shapes
// (head_dim 64 and 128, 6-7 query rows, ~1k cached tokens), 1.1x at the
// test model's (docs/benchmarks.md).
#pragma once

#include <ATen/ATen.h>

namespace r1 {

// True when cpu_decode_attention takes these inputs: CPU fp32 or bf16
// tensors of one dtype, no
// autograd, at most kCpuDecodeQueryRows query rows, head_dim a multiple of
// 8, unit stride in the last dimension, and a CPU with AVX2, FMA and F16C.
inline constexpr int64_t kCpuDecodeQueryRows = 16;
bool cpu_decode_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const at::Tensor& mask);

// q [B, KV, M, D], k/v [B, KV, S, D], mask [B, 1, M, S] additive (0 or
// -inf; every row keeps at least one key) -> [B, KV, M, D], contiguous.
// Equals the explicit matmul-softmax-matmul within fp32 rounding (the dot
// products add in another order). For bf16, as the explicit path computes
// it: scores and softmax in fp32, the probabilities rounded to bf16, their
// product with v summed in fp32 and rounded once to bf16.
at::Tensor cpu_decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& mask);

}  // namespace r1
