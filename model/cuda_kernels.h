// Fused CUDA kernels for the decoder's inference path (decode and prefill
// steps, no autograd), each replacing several ATen kernels with the same
// arithmetic: every intermediate is rounded to the tensors' dtype where
// transformers' eager ops round it. A decode step's time on a GPU is mostly
// the count of its small kernels (docs/benchmarks.md, "On a GPU"); these take
// a layer from ~20 to ~10. model/layer_ops.cc and model/transformer.cc call
// them for CUDA tensors when nothing needs gradients; tests/backend_test.cc
// checks them against the ATen composition on the same GPU.
#pragma once

#include <ATen/ATen.h>

#include <utility>

namespace r1::cuda {

// Whether this build compiled the kernels (CMake found nvcc): calls to them
// sit in `if constexpr (kernels_built)` and need no definition otherwise.
#ifdef R1_CUDA_KERNELS
inline constexpr bool kernels_built = true;
#else
inline constexpr bool kernels_built = false;
#endif

// rms_norm(x) * weight over the last dim: x [N, H] (any leading shape,
// contiguous), weight [H] in x's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// {x + delta, rms_norm(x + delta) * weight}: a residual add and the next
// norm; delta contiguous, of x's shape and dtype.
std::pair<at::Tensor, at::Tensor> add_rms_norm(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& weight,
                                               double eps);

// silu(gate) * up from the fused projection's output [..., 2F] = [gate | up]
// (contiguous). Every input of these kernels must be a contiguous CUDA
// tensor; a wrong one is a c10::Error naming it.
at::Tensor silu_mul(const at::Tensor& gate_up);

// RoPE on the queries and keys of the fused projection's output qkv
// [B, L, (H + 2 KV) * D] with tables cos/signed_sin [B, 1, L, D]
// (model/layer_ops.h rope_tables); writes the rotated keys and the values
// into the caches k_cache/v_cache [B, KV, T, D] at slots [B, L] and returns
// the rotated queries [B, H, L, D].
at::Tensor rope_into_cache(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& signed_sin, int64_t heads,
                           at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& slots);

}  // namespace r1::cuda
