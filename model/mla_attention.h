// Multi-head Latent Attention (DeepSeek V2/V3), as transformers'
// DeepseekV2/V3Attention computes it. Each token keeps one normalised
// latent c_kv (kv_lora_rank) and one rope key (qk_rope_head_dim) shared by
// all heads; per-head keys and values are expanded from the latent by
// kv_b_proj. That pair is what the KV cache holds (model/kv_cache.h).
//
// Two equal forms: expanded (keys/values per head for every key position,
// as transformers) and absorbed (kv_b_proj folded into the query and the
// output, attention over the latent itself). mla_attention picks the one
// with fewer multiply-adds: decode steps take the absorbed form, prefill
// and teacher forcing usually the expanded one.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/safetensors.h"

namespace r1 {

struct MlaWeights {
  at::Tensor q_proj;                                  // [heads * qk_head_dim, hidden] without q-LoRA
  at::Tensor q_a_proj, q_a_bias, q_a_norm, q_b_proj;  // with q-LoRA
  at::Tensor kv_a_proj, kv_a_bias, kv_a_norm;         // [kv_lora_rank + rope, hidden], bias, [kv_lora_rank]
  at::Tensor kv_b_proj;                               // [heads * (nope + v), kv_lora_rank]
  at::Tensor o_proj, o_bias;                          // [hidden, heads * v]
  // Set by Transformer::with_fused_projections: kv_b_proj split per head,
  // contiguous, for the absorbed form ([heads, nope, rank], [heads, v, rank]).
  at::Tensor w_uk, w_uv;
};

enum class MlaForm { kAuto, kExpanded, kAbsorbed };

// x [B, L, hidden] (normed), cos/sin [B, 1, L, rope] (attention factor
// applied), mask [B, 1, heads * L, S] additive -> [B, L, hidden].
at::Tensor mla_attention(const MlaWeights& w, const ModelConfig& c, int64_t layer, const at::Tensor& x,
                         const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask, const AttentionKV& kv,
                         MlaForm form = MlaForm::kAuto);

// The softmax scale: qk_head_dim^-0.5, times YaRN's mscale(factor, mscale_all_dim)^2.
double mla_softmax_scale(const ModelConfig& c);

// Fills w_uk / w_uv from kv_b_proj.
void split_kv_b_proj(MlaWeights& w, const ModelConfig& c);

// The attention tensors of one layer under HF names (prefix "model.layers.i.").
void mla_tensor_shapes(const ModelConfig& c, const std::string& prefix, TensorShapes& out);
MlaWeights bind_mla(const std::function<at::Tensor(const std::string&)>& get, const std::string& prefix);

}  // namespace r1
