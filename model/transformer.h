// The decoder-only transformer shared by the Qwen2, Llama and Qwen3 families
// and DeepSeek V2/V3 (whose layers swap in multi-head latent attention,
// model/mla_attention.h, and DeepSeekMoE MLPs, model/moe.h). Weights are
// kept under their Hugging Face names so that loading, saving, optimiser
// state and checkpoints need no name mapping.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "model/config.h"
#include "model/gemm.h"
#include "model/kv_cache.h"
#include "model/mla_attention.h"
#include "model/moe.h"
#include "model/rope.h"
#include "model/safetensors.h"
#include "util/status.h"

namespace r1 {

// How loading places the weights; model/device.h makes one from a job's
// ComputeOptions (its `device` and `dtype` keys).
struct LoadOptions {
  // Compute dtype; kUndefined keeps the checkpoint's. Weights are copied into
  // owned memory only when converted, moved or when `trainable` is set.
  at::ScalarType dtype = at::ScalarType::Undefined;
  bool trainable = false;  // own the memory and set requires_grad
  at::Device device = at::kCPU;  // where every weight lives from the start
};

struct LayerWeights {
  at::Tensor input_norm, post_attention_norm;
  at::Tensor q_proj, k_proj, v_proj, o_proj;  // [out, in]
  at::Tensor q_bias, k_bias, v_bias, o_bias;  // undefined when the family has none
  at::Tensor q_norm, k_norm;                  // Qwen3 only: [head_dim]
  at::Tensor gate_proj, up_proj, down_proj;
  at::Tensor gate_bias, up_bias, down_bias;   // Llama mlp_bias only
  // Set by with_fused_projections only: [q; k; v] and [gate; up] as one
  // matrix each, so a decode step runs 4 matrix products per layer, not 7.
  at::Tensor qkv_proj, qkv_bias, gate_up_proj, gate_up_bias;
  // Also set by with_fused_projections, for products without autograd: those
  // four matrices packed for MKL (model/gemm.h; empty where it does not apply).
  gemm::PackedWeight qkv_packed, o_packed, gate_up_packed, down_packed;
  MlaWeights mla;  // DeepSeek: attention instead of q/k/v/o above
  MoeWeights moe;  // DeepSeek layers past first_k_dense_replace: the MLP instead of gate/up/down
};

class Transformer {
 public:
  static Result<Transformer> load(const std::string& dir, const LoadOptions& options = {});
  static Result<Transformer> from_tensors(const ModelConfig& config, TensorMap tensors,
                                          const LoadOptions& options = {});
  // Random weights as transformers initialises them: N(0, initializer_range)
  // for matrices and embeddings, zero biases, unit norms.
  static Transformer random(const ModelConfig& config, uint64_t seed);

  // ids, positions: [B, L] int64. allowed: [B, L, S] bool, true where query
  // i of row b may attend to key j: S = L for a plain call, otherwise as
  // AttentionKV describes. Returns the final-normed hidden states [B, L, hidden].
  // `routing` (DeepSeekMoE only) replays and/or records the experts' routes.
  // Padding-free (verl's remove-padding): with `packed` [T] int64, the indices
  // in [B * L] of the tokens that count, the token-wise work (embedding,
  // projections, norms, MLPs) runs on those T tokens only and attention on
  // the zero-padded rows; returns [T, hidden]. Not with a cache or routing.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& allowed,
                     const AttentionKV& kv = {}, MoeRouting* routing = nullptr,
                     const at::Tensor& packed = {}) const;

  // hidden [..., hidden] -> logits [..., vocab] in the compute dtype.
  // Throws for a sequence-classification model, which has no LM head.
  at::Tensor lm_head(const at::Tensor& hidden) const;
  // hidden [..., hidden] -> [..., num_labels]: the score head of a
  // sequence-classification model (throws for a causal LM).
  at::Tensor score(const at::Tensor& hidden) const;
  // Its weight [vocab, hidden] (the embedding when tied), for scoring that
  // never builds all the logits (model/chunked_logprobs.h).
  const at::Tensor& lm_head_weight() const { return lm_head_; }

  KVCache new_cache(int64_t batch, int64_t capacity) const;

  // A copy for inference that shares this model's weights and adds fused
  // copies of the q/k/v and gate/up projections (LayerWeights). The copies
  // do not follow later updates of the weights: build one per generation.
  Transformer with_fused_projections() const;

  // Per-layer activation checkpointing (transformers' gradient_checkpointing)
  // for forward calls under grad: each layer keeps only its input, and the
  // backward recomputes the layer (model/activation_checkpoint.h). The same
  // gradients, one more forward, and one layer's activations at a time.
  void set_gradient_checkpointing(bool on) { checkpoint_layers_ = on; }
  bool gradient_checkpointing() const { return checkpoint_layers_; }

  const ModelConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return embed_.device(); }
  // The weights under their HF names (tied models have no lm_head.weight).
  const TensorMap& tensors() const { return tensors_; }
  std::vector<at::Tensor> parameters() const;

  Status save(const std::string& dir, const std::string& tokenizer_from = "") const;

 private:
  // What every layer of one forward call reads besides its input: cos/sin
  // [B, 1, L, D], the additive mask [B, 1, G * L, S], and `packed` as forward takes it.
  struct LayerInputs {
    at::Tensor cos, sin, mask, packed;
  };

  Transformer(ModelConfig config, TensorMap tensors, at::ScalarType dtype);
  Status bind_layers();
  at::Tensor attention_block(int64_t layer, const at::Tensor& x, const LayerInputs& in, const AttentionKV& kv) const;
  at::Tensor mlp_block(int64_t layer, const at::Tensor& x, MoeRouting* routing) const;
  // One decoder layer: h + attention, then + MLP.
  at::Tensor layer(int64_t i, const at::Tensor& h, const LayerInputs& in, const AttentionKV& kv,
                   MoeRouting* routing) const;
  at::Tensor checkpointed_layer(int64_t i, const at::Tensor& h, const LayerInputs& in, const AttentionKV& kv,
                                MoeRouting* routing) const;
  std::vector<at::Tensor> layer_tensors(int64_t i) const;

  ModelConfig config_;
  TensorMap tensors_;
  at::ScalarType dtype_;
  at::Tensor inv_freq_;  // [head_dim / 2] fp32, rope scaling applied
  double rope_factor_ = 1.0;  // YaRN's attention factor on cos/sin
  at::Tensor embed_, final_norm_, lm_head_, score_;  // lm_head_ or score_ by config_.head
  gemm::PackedWeight lm_head_packed_;  // with_fused_projections only
  std::vector<LayerWeights> layers_;
  bool checkpoint_layers_ = false;
};

// Expected tensor names and shapes for a config, in HF naming.
TensorShapes expected_tensor_shapes(const ModelConfig& config);

}  // namespace r1
