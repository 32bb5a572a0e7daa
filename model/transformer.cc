#include "model/transformer.h"

#include <ATen/core/grad_mode.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <tuple>

#include "model/activation_checkpoint.h"
#include "model/checkpoint.h"
#include "model/cpu_decode_attention.h"
#include "model/cuda_kernels.h"
#include "model/gemm.h"
#include "model/layer_ops.h"

namespace r1 {

namespace {

std::string layer_prefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

// x w^T + b, with the weight's MKL packing when it has one and nothing
// needs the graph (the generation copy's decode steps).
at::Tensor project(const at::Tensor& x, const at::Tensor& w, const gemm::PackedWeight& packed, const at::Tensor& b) {
  if (packed.buffer.defined() && !at::GradMode::is_enabled()) return gemm::linear(x, packed, b);
  return gemm::linear(x, w, b);
}

// The attention mask in the layout grouped_attention reads, built once per
// forward rather than per layer: allowed [B, L, S] -> [B, 1, G * L, S]
// additive (0 or -inf) in the compute dtype, as SDPA would convert it anyway.
// One pass: the expansion is a broadcast view that where() reads, its
// output is the only tensor written.
at::Tensor grouped_attention_mask(const at::Tensor& allowed, int64_t group, at::ScalarType dtype) {
  int64_t B = allowed.size(0), L = allowed.size(1), S = allowed.size(2);
  at::TensorOptions options = at::TensorOptions().dtype(dtype).device(allowed.device());
  at::Tensor visible = at::zeros({}, options), hidden = at::full({}, -std::numeric_limits<float>::infinity(), options);
  return at::where(allowed.unsqueeze(1).expand({B, group, L, S}), visible, hidden).reshape({B, 1, group * L, S});
}

// Up to this many attention scores (per forward call and layer) may be
// materialised; longer problems use flash attention, whose memory stays linear.
constexpr int64_t kMaxMaterializedScores = int64_t{1} << 22;

// Whether the explicit matmul-softmax-matmul path beats SDPA's CPU flash
// kernel, measured at the learner's and generation's shapes (1 thread, AVX2):
// - decode steps against a KV cache (up to 64 query rows per KV head: the
//   grouped heads of a few tokens), where the flash kernel's per-block set-up
//   dominates (~2x); a prefill into the cache goes to SDPA (~6% faster);
// - bf16/fp16: the flash kernel's reduced-precision backward is 2.0-2.5x
//   slower than the products in fp32 (gemm::matmul's upcast path). Its
//   forward alone is faster, but the choice must not depend on grad mode: a
//   checkpointed layer's recomputation (with grad) must equal its first pass
//   (without) bit for bit.
// fp32 goes to SDPA: forward+backward 1.1-2.1x faster (a GRPO micro-batch's
// completions, 8 x 64 queries against 160 keys: 8.7 -> 6.8 ms), forward only
// 1.1-3.3x.
constexpr int64_t kShortQueryRows = 64;
bool materialize_scores(const at::Tensor& q, const at::Tensor& k, bool from_cache) {
  if (!q.is_cpu() || q.size(0) * q.size(1) * q.size(2) * k.size(2) > kMaxMaterializedScores) return false;
  if (from_cache) return q.size(2) <= kShortQueryRows;
  return q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf;
}

// softmax(q k^T / sqrt(D) + mask) v with scores and softmax in fp32 and the
// probabilities cast to the compute dtype for the product with v, as the
// flash kernel computes it (bf16 scores would cost ~0.1 logits vs transformers).
at::Tensor explicit_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = gemm::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-1, -2)).mul_(scale) + mask;
  return gemm::matmul(at::softmax(scores, -1).to(q.scalar_type()), v);
}

// Grouped-query attention without copying K/V per query head: the G query
// heads that share a KV head are folded into the query-length dimension.
// q [B, H, L, D], k/v [B, KV, S, D], mask from grouped_attention_mask -> [B, H, L, D].
// `from_cache`: k/v are a KV cache's (generation), where the CPU decode
// kernels may run. Elsewhere the same ATen ops run with or without autograd,
// so a checkpointed layer's recomputation equals its first pass bit for bit.
at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                             bool from_cache) {
  int64_t B = q.size(0), H = q.size(1), L = q.size(2), D = q.size(3), KV = k.size(1);
  at::Tensor qg = q.reshape({B, KV, (H / KV) * L, D});
  // On a GPU every size goes to SDPA: its memory-efficient kernel takes the
  // additive mask (padded prefill, decode against the whole cache) and never
  // materialises the scores.
  at::Tensor out;
  if (from_cache && cpu_decode_attention_applies(qg, k, v, mask))
    out = cpu_decode_attention(qg, k, v, mask);
  else if (materialize_scores(qg, k, from_cache))
    out = explicit_attention(qg, k, v, mask);
  else
    out = at::scaled_dot_product_attention(qg, k, v, mask);
  return out.reshape({B, H, L, D});  // SDPA's CUDA kernels may return another memory layout
}

void dense_mlp_shapes(const ModelConfig& c, const std::string& p, TensorShapes& out) {
  int64_t h = c.hidden_size, f = c.intermediate_size;
  out.push_back({p + "mlp.gate_proj.weight", {f, h}});
  out.push_back({p + "mlp.up_proj.weight", {f, h}});
  out.push_back({p + "mlp.down_proj.weight", {h, f}});
  if (c.mlp_bias) {
    out.push_back({p + "mlp.gate_proj.bias", {f}});
    out.push_back({p + "mlp.up_proj.bias", {f}});
    out.push_back({p + "mlp.down_proj.bias", {h}});
  }
}

// DeepSeek: MLA in every layer, dense MLPs in the first first_k_dense_replace.
void deepseek_layer_shapes(const ModelConfig& c, int64_t i, TensorShapes& out) {
  std::string p = layer_prefix(i);
  out.push_back({p + "input_layernorm.weight", {c.hidden_size}});
  out.push_back({p + "post_attention_layernorm.weight", {c.hidden_size}});
  mla_tensor_shapes(c, p, out);
  if (c.moe.moe_layer(i))
    moe_tensor_shapes(c, p, out);
  else
    dense_mlp_shapes(c, p, out);
}

}  // namespace

TensorShapes expected_tensor_shapes(const ModelConfig& c) {
  int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim, h = c.hidden_size;
  TensorShapes out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    if (c.is_mla()) {
      deepseek_layer_shapes(c, i, out);
      continue;
    }
    std::string p = layer_prefix(i);
    out.push_back({p + "input_layernorm.weight", {h}});
    out.push_back({p + "post_attention_layernorm.weight", {h}});
    out.push_back({p + "self_attn.q_proj.weight", {q, h}});
    out.push_back({p + "self_attn.k_proj.weight", {kv, h}});
    out.push_back({p + "self_attn.v_proj.weight", {kv, h}});
    out.push_back({p + "self_attn.o_proj.weight", {h, q}});
    if (c.qkv_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {q}});
      out.push_back({p + "self_attn.k_proj.bias", {kv}});
      out.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    if (c.o_bias) out.push_back({p + "self_attn.o_proj.bias", {h}});
    if (c.qk_norm) {
      out.push_back({p + "self_attn.q_norm.weight", {c.head_dim}});
      out.push_back({p + "self_attn.k_norm.weight", {c.head_dim}});
    }
    dense_mlp_shapes(c, p, out);
  }
  out.push_back({"model.norm.weight", {h}});
  if (c.head == ModelHead::sequence_classification)
    out.push_back({"score.weight", {c.num_labels, h}});
  else if (!c.tie_word_embeddings)
    out.push_back({"lm_head.weight", {c.vocab_size, h}});
  return out;
}

Transformer::Transformer(ModelConfig config, TensorMap tensors, at::ScalarType dtype)
    : config_(std::move(config)), tensors_(std::move(tensors)), dtype_(dtype) {
  rope_factor_ = rope_attention_factor(config_);
}

namespace {

// Tensors of layers past num_hidden_layers: DeepSeek-V3's multi-token
// prediction modules, which next-token decoding and training here do not use.
void report_skipped_mtp_layers(const std::string& dir, const ModelConfig& c, const TensorMap& tensors) {
  std::set<int64_t> layers;
  int64_t count = 0;
  for (const auto& [name, t] : tensors) {
    if (name.rfind("model.layers.", 0) != 0) continue;
    int64_t layer = std::atoll(name.c_str() + 13);
    if (layer >= c.num_hidden_layers) layers.insert(layer), ++count;
  }
  if (layers.empty()) return;
  std::fprintf(stderr,
               "r1: %s: skipping %lld tensors of %zu multi-token-prediction layer(s) from model.layers.%lld "
               "(num_nextn_predict_layers = %lld): not loaded, only next-token prediction is used\n",
               dir.c_str(), static_cast<long long>(count), layers.size(), static_cast<long long>(*layers.begin()),
               static_cast<long long>(c.num_nextn_predict_layers));
}

}  // namespace

Result<Transformer> Transformer::load(const std::string& dir, const LoadOptions& options) {
  R1_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::load(dir));
  R1_ASSIGN_OR_RETURN(TensorMap tensors, load_checkpoint_tensors(dir));
  if (config.is_mla()) report_skipped_mtp_layers(dir, config, tensors);
  auto model = from_tensors(config, std::move(tensors), options);
  if (!model.ok()) return model.status().with_context(dir);
  return model;
}

Result<Transformer> Transformer::from_tensors(const ModelConfig& config, TensorMap tensors,
                                              const LoadOptions& options) {
  TensorMap kept;
  at::ScalarType dtype = options.dtype;
  for (const auto& [name, shape] : expected_tensor_shapes(config)) {
    auto it = tensors.find(name);
    if (it == tensors.end()) return Status::error("checkpoint lacks tensor '" + name + "'");
    if (it->second.sizes().vec() != shape)
      return Status::error("tensor '" + name + "' has shape " + c10::str(it->second.sizes()) + ", config needs " +
                           c10::str(at::IntArrayRef(shape)));
    if (!at::isFloatingType(it->second.scalar_type()))
      return Status::error("tensor '" + name + "' must be floating point");
    if (dtype == at::ScalarType::Undefined) dtype = it->second.scalar_type();
    at::Tensor t = it->second.to(options.device, keeps_fp32(name) ? at::kFloat : dtype);
    if (options.trainable) {
      if (t.data_ptr() == it->second.data_ptr()) t = t.clone();
      t.set_requires_grad(true);
    }
    kept.emplace(name, t);
  }
  Transformer model(config, std::move(kept), dtype);
  R1_RETURN_IF_ERROR(model.bind_layers());
  return model;
}

Transformer Transformer::random(const ModelConfig& config, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  TensorMap tensors;
  for (const auto& [name, shape] : expected_tensor_shapes(config)) {
    bool is_norm = name.find("norm") != std::string::npos;
    // ".bias", and DeepSeek's e_score_correction_bias (zero as transformers starts it)
    bool is_bias = name.size() > 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    at::Tensor t;
    if (is_norm)
      t = at::ones(shape);
    else if (is_bias)
      t = at::zeros(shape);
    else
      t = at::normal(0.0, config.initializer_range, shape, gen);
    tensors.emplace(name, t);
  }
  Transformer model(config, std::move(tensors), at::kFloat);
  throw_if_error(model.bind_layers());
  return model;
}

Status Transformer::bind_layers() {
  auto get = [&](const std::string& name) {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? at::Tensor() : it->second;
  };
  embed_ = get("model.embed_tokens.weight");
  inv_freq_ = rope_inverse_frequencies(config_).to(embed_.device());  // beside the weights: no copy per forward
  final_norm_ = get("model.norm.weight");
  if (config_.head == ModelHead::sequence_classification)
    score_ = get("score.weight");
  else
    lm_head_ = config_.tie_word_embeddings ? embed_ : get("lm_head.weight");
  layers_.clear();
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    std::string p = layer_prefix(i);
    LayerWeights w;
    w.input_norm = get(p + "input_layernorm.weight");
    w.post_attention_norm = get(p + "post_attention_layernorm.weight");
    if (config_.is_mla()) w.mla = bind_mla(get, p);
    if (config_.moe.moe_layer(i)) w.moe = bind_moe(get, config_, p);
    w.q_proj = get(p + "self_attn.q_proj.weight");
    w.k_proj = get(p + "self_attn.k_proj.weight");
    w.v_proj = get(p + "self_attn.v_proj.weight");
    w.o_proj = get(p + "self_attn.o_proj.weight");
    w.q_bias = get(p + "self_attn.q_proj.bias");
    w.k_bias = get(p + "self_attn.k_proj.bias");
    w.v_bias = get(p + "self_attn.v_proj.bias");
    w.o_bias = get(p + "self_attn.o_proj.bias");
    w.q_norm = get(p + "self_attn.q_norm.weight");
    w.k_norm = get(p + "self_attn.k_norm.weight");
    w.gate_proj = get(p + "mlp.gate_proj.weight");
    w.up_proj = get(p + "mlp.up_proj.weight");
    w.down_proj = get(p + "mlp.down_proj.weight");
    w.gate_bias = get(p + "mlp.gate_proj.bias");
    w.up_bias = get(p + "mlp.up_proj.bias");
    w.down_bias = get(p + "mlp.down_proj.bias");
    layers_.push_back(w);
  }
  return Status();
}

namespace {

// cat of the tensors along dim 0; undefined when the first is (no bias).
at::Tensor concat_rows(std::initializer_list<at::Tensor> parts) {
  return parts.begin()->defined() ? at::cat(parts) : at::Tensor();
}

}  // namespace

Transformer Transformer::with_fused_projections() const {
  Transformer fused = *this;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    LayerWeights& w = fused.layers_[i];
    if (config_.is_mla()) {
      split_kv_b_proj(w.mla, config_);  // the absorbed form's per-head blocks
    } else {
      w.qkv_proj = at::cat({w.q_proj, w.k_proj, w.v_proj});
      w.qkv_bias = concat_rows({w.q_bias, w.k_bias, w.v_bias});
    }
    if (config_.moe.moe_layer(i)) {
      stack_experts(w.moe);
      continue;
    }
    w.gate_up_proj = at::cat({w.gate_proj, w.up_proj});
    w.gate_up_bias = concat_rows({w.gate_bias, w.up_bias});
    w.gate_up_packed = gemm::pack(w.gate_up_proj);
    w.down_packed = gemm::pack(w.down_proj);
  }
  for (LayerWeights& w : fused.layers_) {
    if (config_.is_mla()) continue;
    w.qkv_packed = gemm::pack(w.qkv_proj);
    w.o_packed = gemm::pack(w.o_proj);
  }
  if (lm_head_.defined()) fused.lm_head_packed_ = gemm::pack(lm_head_);
  return fused;
}

std::vector<at::Tensor> Transformer::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : tensors_) out.push_back(t);
  return out;
}

KVCache Transformer::new_cache(int64_t batch, int64_t capacity) const {
  KVCache cache;
  auto opts = at::TensorOptions().dtype(dtype_).device(device());
  if (config_.is_mla()) {  // the compressed cache: latent and rope key per token
    for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
      cache.k.push_back(at::zeros({batch, 1, capacity, config_.mla.kv_lora_rank}, opts));
      cache.v.push_back(at::zeros({batch, 1, capacity, config_.mla.qk_rope_head_dim}, opts));
    }
    return cache;
  }
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    cache.k.push_back(at::zeros({batch, config_.num_key_value_heads, capacity, config_.head_dim}, opts));
    cache.v.push_back(at::zeros({batch, config_.num_key_value_heads, capacity, config_.head_dim}, opts));
  }
  return cache;
}

at::Tensor Transformer::attention_block(int64_t i, const at::Tensor& x, const LayerInputs& in,
                                        const AttentionKV& kv) const {
  const LayerWeights& w = layers_[i];
  const ModelConfig& c = config_;
  const at::Tensor &cos = in.cos, &sin = in.sin, &mask = in.mask;
  // [B, L] from cos/sin: x is [T, hidden] when packed.
  int64_t B = cos.size(0), L = cos.size(2), D = c.head_dim, H = c.num_attention_heads, KV = c.num_key_value_heads;
  const bool packed = in.packed.defined();
  auto padded = [&](const at::Tensor& t) { return packed ? unpack_tokens(t, in.packed, B, L) : t; };
  if (c.is_mla()) {
    at::Tensor out = mla_attention(w.mla, c, i, padded(x), cos, sin, mask, kv);
    return packed ? pack_tokens(out, in.packed) : out;
  }
  const int64_t S = mask.size(3);
  // q [B, H, L, D] against k/v [B, KV, S, D], then the output projection.
  auto attend = [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    at::Tensor out = grouped_attention(q, k, v, mask, kv.cache != nullptr).transpose(1, 2).reshape({B, L, H * D});
    return project(packed ? pack_tokens(out, in.packed) : out, w.o_proj, w.o_packed, w.o_bias);
  };
  at::Tensor q, k, v;  // -> [B, heads, L, D]
  if (w.qkv_proj.defined() && !c.qk_norm) {
    at::Tensor qkv = padded(project(x, w.qkv_proj, w.qkv_packed, w.qkv_bias));
    if constexpr (cuda::kernels_built)
      if (kv.cache && !kv.prefix && !kv.keys_out && use_fused_kernels({qkv}))
        // One kernel: RoPE on queries and keys, keys and values into the cache.
        return attend(cuda::rope_into_cache(qkv, cos, sin, H, kv.cache->k[i], kv.cache->v[i], kv.cache_slots),
                      kv.cache->k[i].narrow(2, 0, S), kv.cache->v[i].narrow(2, 0, S));
    // The fused projection's queries and keys side by side: one RoPE for both.
    at::Tensor heads = qkv.view({B, L, H + 2 * KV, D});
    at::Tensor qk = apply_rope(heads.narrow(2, 0, H + KV), cos.transpose(1, 2), sin.transpose(1, 2));
    q = qk.narrow(2, 0, H).transpose(1, 2), k = qk.narrow(2, H, KV).transpose(1, 2);
    v = heads.narrow(2, H + KV, KV).transpose(1, 2);
  } else {
    if (w.qkv_proj.defined()) {  // with q/k norms (Qwen3), which come before RoPE
      at::Tensor qkv = padded(project(x, w.qkv_proj, w.qkv_packed, w.qkv_bias));
      q = qkv.narrow(-1, 0, H * D), k = qkv.narrow(-1, H * D, KV * D), v = qkv.narrow(-1, (H + KV) * D, KV * D);
    } else {
      q = padded(gemm::linear(x, w.q_proj, w.q_bias));
      k = padded(gemm::linear(x, w.k_proj, w.k_bias));
      v = padded(gemm::linear(x, w.v_proj, w.v_bias));
    }
    q = q.view({B, L, H, D}).transpose(1, 2);
    k = k.view({B, L, KV, D}).transpose(1, 2);
    v = v.view({B, L, KV, D}).transpose(1, 2);
    if (c.qk_norm) {
      q = rms_norm(q, w.q_norm, c.rms_norm_eps);
      k = rms_norm(k, w.k_norm, c.rms_norm_eps);
    }
    q = apply_rope(q, cos, sin), k = apply_rope(k, cos, sin);
  }
  std::tie(k, v) = layer_keys(kv, i, k, v, S);
  return attend(q, k, v);
}

at::Tensor Transformer::mlp_block(int64_t i, const at::Tensor& x, MoeRouting* routing) const {
  const LayerWeights& w = layers_[i];
  if (config_.moe.moe_layer(i)) {
    if (!routing) return moe_block(w.moe, config_.moe, x);
    size_t m = static_cast<size_t>(i - config_.moe.first_k_dense_replace);  // the MoE layer's index
    ExpertChoice choice;
    at::Tensor out = moe_block(w.moe, config_.moe, x, m < routing->replay.size() ? routing->replay[m] : at::Tensor(),
                               &choice);
    if (routing->record) {
      std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
      shape.push_back(config_.moe.num_experts_per_tok);
      routing->chosen.push_back(choice.own.view(shape));
      shape.back() = config_.moe.n_routed_experts;
      routing->router_logits.push_back(choice.logits.view(shape));
    }
    return out;
  }
  at::Tensor hidden = w.gate_up_proj.defined()
                          ? silu_mul(project(x, w.gate_up_proj, w.gate_up_packed, w.gate_up_bias))
                          : silu_mul(gemm::linear(x, w.gate_proj, w.gate_bias), gemm::linear(x, w.up_proj, w.up_bias));
  return project(hidden, w.down_proj, w.down_packed, w.down_bias);
}

at::Tensor Transformer::forward(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& allowed,
                                const AttentionKV& kv, MoeRouting* routing, const at::Tensor& packed) const {
  if (packed.defined() && (kv.cache || routing))
    throw Error("a padding-free forward takes neither a KV cache nor MoE routing");
  at::Tensor h = at::embedding(embed_, packed.defined() ? ids.reshape({-1}).index_select(0, packed) : ids);
  // cos/sin [B, 1, L, D] in fp32 as transformers computes them, then cast.
  at::Tensor angles = (positions.to(at::kFloat).unsqueeze(-1) * inv_freq_).unsqueeze(1);
  auto [cos, sin] = rope_tables(angles, rope_factor_, dtype_);
  // MLA: every head reads the one shared latent, like a single KV head.
  int64_t group = config_.is_mla() ? config_.num_attention_heads
                                   : config_.num_attention_heads / config_.num_key_value_heads;
  const LayerInputs in{cos, sin, grouped_attention_mask(allowed, group, dtype_), packed};
  const bool checkpoint = checkpoint_layers_ && at::GradMode::is_enabled() && !kv.cache;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i)
    h = checkpoint ? checkpointed_layer(i, h, in, kv, routing) : layer(i, h, in, kv, routing);
  return rms_norm(h, final_norm_, config_.rms_norm_eps);
}

at::Tensor Transformer::layer(int64_t i, const at::Tensor& h, const LayerInputs& in, const AttentionKV& kv,
                              MoeRouting* routing) const {
  const LayerWeights& w = layers_[i];
  at::Tensor attention = attention_block(i, rms_norm(h, w.input_norm, config_.rms_norm_eps), in, kv);
  auto [x, normed] = add_rms_norm(h, attention, w.post_attention_norm, config_.rms_norm_eps);
  return x + mlp_block(i, normed, routing);
}

// The layer as a checkpointed function of its input and, after a shared
// prefix, the prefix's keys/values of this layer; its outputs add the keys/values
// it collects and the MoE routing it records, so that they reach the caller
// with their gradients. Each run collects and records into its own locals.
at::Tensor Transformer::checkpointed_layer(int64_t i, const at::Tensor& h, const LayerInputs& in, const AttentionKV& kv,
                                           MoeRouting* routing) const {
  const bool prefix = kv.prefix != nullptr, collect = kv.keys_out != nullptr;
  const bool moe = routing && config_.moe.moe_layer(i);
  const size_t m = moe ? static_cast<size_t>(i - config_.moe.first_k_dense_replace) : 0;
  const at::Tensor replay = moe && m < routing->replay.size() ? routing->replay[m] : at::Tensor();
  const bool record = moe && routing->record;
  const int64_t layers = config_.num_hidden_layers;
  const at::Tensor prefix_rows = kv.prefix_rows;
  auto fn = [this, i, in, prefix, collect, prefix_rows, m, replay, record, layers](const std::vector<at::Tensor>& a) {
    KVCache read, written;
    AttentionKV layer_kv;
    if (prefix) {
      read.k.resize(layers), read.v.resize(layers);
      read.k[i] = a[1], read.v[i] = a[2];
      layer_kv = AttentionKV::after_prefix(&read, prefix_rows);
    }
    if (collect) layer_kv.keys_out = &written;
    MoeRouting layer_routing;
    layer_routing.record = record;
    if (replay.defined()) layer_routing.replay.resize(m + 1), layer_routing.replay[m] = replay;
    bool routed = record || replay.defined();
    std::vector<at::Tensor> out = {layer(i, a[0], in, layer_kv, routed ? &layer_routing : nullptr)};
    if (collect) out.insert(out.end(), {written.k[0], written.v[0]});
    if (record) out.insert(out.end(), {layer_routing.router_logits[0], layer_routing.chosen[0]});
    return out;
  };
  std::vector<at::Tensor> activations = {h};
  if (prefix) activations.insert(activations.end(), {kv.prefix->k[i], kv.prefix->v[i]});
  std::vector<at::Tensor> out = checkpointed(fn, activations, layer_tensors(i));
  size_t j = 1;
  if (collect) kv.keys_out->k.push_back(out[j]), kv.keys_out->v.push_back(out[j + 1]), j += 2;
  if (record) routing->router_logits.push_back(out[j]), routing->chosen.push_back(out[j + 1]);
  return out[0];
}

std::vector<at::Tensor> Transformer::layer_tensors(int64_t i) const {
  std::vector<at::Tensor> out;
  const std::string p = layer_prefix(i);
  for (const auto& [name, t] : tensors_)
    if (name.compare(0, p.size(), p) == 0 && t.requires_grad()) out.push_back(t);
  return out;
}

at::Tensor Transformer::lm_head(const at::Tensor& hidden) const {
  if (!lm_head_.defined())
    throw Error("this model is a sequence classifier (a reward model): it has a score head, no LM head");
  return project(hidden, lm_head_, lm_head_packed_, {});
}

at::Tensor Transformer::score(const at::Tensor& hidden) const {
  if (!score_.defined()) throw Error("this model is a causal LM: it has no score head (*ForSequenceClassification)");
  return at::matmul(hidden, score_.t());
}

Status Transformer::save(const std::string& dir, const std::string& tokenizer_from) const {
  ModelConfig config = config_;
  auto dtype_name = dtype_ == at::kBFloat16 ? "bfloat16" : dtype_ == at::kHalf ? "float16" : "float32";
  config.dtype = dtype_name;
  SaveOptions options;
  options.tokenizer_from = tokenizer_from;
  return save_checkpoint(dir, config, tensors_, options);
}

}  // namespace r1
