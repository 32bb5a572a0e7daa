#include "model/transformer.h"

#include <cmath>
#include <limits>

#include "model/checkpoint.h"
#include "model/gemm.h"

namespace r1 {

namespace {

std::string layer_prefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

// RMSNorm as transformers computes it: in fp32, cast back, then scale.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor h = x.to(at::kFloat);
  h = h * at::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return weight * h.to(x.scalar_type());
}

at::Tensor rotate_half(const at::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// The attention mask in the layout grouped_attention reads, built once per
// forward rather than per layer: allowed [B, L, S] -> [B, 1, G * L, S]
// additive (0 or -inf) in the compute dtype, as SDPA would convert it anyway.
at::Tensor grouped_attention_mask(const at::Tensor& allowed, int64_t group, at::ScalarType dtype) {
  int64_t B = allowed.size(0), L = allowed.size(1), S = allowed.size(2);
  at::Tensor expanded = allowed.unsqueeze(1).expand({B, group, L, S}).reshape({B, 1, group * L, S});
  return at::zeros(expanded.sizes(), at::TensorOptions().dtype(dtype).device(allowed.device()))
      .masked_fill_(expanded.logical_not(), -std::numeric_limits<float>::infinity());
}

// Up to this many attention scores (per forward call and layer) are
// materialised: the explicit matmul-softmax-matmul path then beats the CPU
// flash-attention kernel, whose per-block set-up dominates short queries
// (decode steps: ~2x faster; a micro-batch's fwd+bwd in bf16: ~1.9x).
// Longer problems use flash attention, whose memory stays linear.
constexpr int64_t kMaxMaterializedScores = int64_t{1} << 22;

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
at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask) {
  int64_t B = q.size(0), H = q.size(1), L = q.size(2), D = q.size(3), KV = k.size(1);
  at::Tensor qg = q.reshape({B, KV, (H / KV) * L, D});
  bool small = B * H * L * k.size(2) <= kMaxMaterializedScores;
  at::Tensor out = small ? explicit_attention(qg, k, v, mask) : at::scaled_dot_product_attention(qg, k, v, mask);
  return out.view({B, H, L, D});
}

}  // namespace

at::Tensor rope_inverse_frequencies(const ModelConfig& c) {
  int64_t dim = c.head_dim;
  at::Tensor inv = 1.0 / at::pow(c.rope_theta, at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim);
  const RopeScaling& r = c.rope_scaling;
  if (r.type == "linear") return inv / r.factor;
  if (r.type != "llama3") return inv;
  double old_len = static_cast<double>(r.original_max_position_embeddings);
  double low_wavelen = old_len / r.low_freq_factor;
  double high_wavelen = old_len / r.high_freq_factor;
  at::Tensor wavelen = 2 * M_PI / inv;
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv / r.factor, inv);
  at::Tensor smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
  at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return at::where(medium, smoothed, scaled);
}

std::vector<std::pair<std::string, std::vector<int64_t>>> expected_tensor_shapes(const ModelConfig& c) {
  int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim, h = c.hidden_size,
          f = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, h}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
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
    out.push_back({p + "mlp.gate_proj.weight", {f, h}});
    out.push_back({p + "mlp.up_proj.weight", {f, h}});
    out.push_back({p + "mlp.down_proj.weight", {h, f}});
    if (c.mlp_bias) {
      out.push_back({p + "mlp.gate_proj.bias", {f}});
      out.push_back({p + "mlp.up_proj.bias", {f}});
      out.push_back({p + "mlp.down_proj.bias", {h}});
    }
  }
  out.push_back({"model.norm.weight", {h}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, h}});
  return out;
}

Transformer::Transformer(ModelConfig config, TensorMap tensors, at::ScalarType dtype)
    : config_(std::move(config)), tensors_(std::move(tensors)), dtype_(dtype) {
  inv_freq_ = rope_inverse_frequencies(config_);
}

Result<Transformer> Transformer::load(const std::string& dir, const LoadOptions& options) {
  R1_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::load(dir));
  R1_ASSIGN_OR_RETURN(TensorMap tensors, load_checkpoint_tensors(dir));
  auto model = from_tensors(config, std::move(tensors), options);
  if (!model.ok()) return model.status().with_context(dir);
  return model;
}

Result<Transformer> Transformer::from_tensors(const ModelConfig& config, TensorMap tensors, const LoadOptions& options) {
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
    at::Tensor t = it->second.to(options.device, dtype);
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
    bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
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
  final_norm_ = get("model.norm.weight");
  lm_head_ = config_.tie_word_embeddings ? embed_ : get("lm_head.weight");
  layers_.clear();
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    std::string p = layer_prefix(i);
    LayerWeights w;
    w.input_norm = get(p + "input_layernorm.weight");
    w.post_attention_norm = get(p + "post_attention_layernorm.weight");
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
  for (LayerWeights& w : fused.layers_) {
    w.qkv_proj = at::cat({w.q_proj, w.k_proj, w.v_proj});
    w.qkv_bias = concat_rows({w.q_bias, w.k_bias, w.v_bias});
    w.gate_up_proj = at::cat({w.gate_proj, w.up_proj});
    w.gate_up_bias = concat_rows({w.gate_bias, w.up_bias});
  }
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
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    cache.k.push_back(at::zeros({batch, config_.num_key_value_heads, capacity, config_.head_dim}, opts));
    cache.v.push_back(at::zeros({batch, config_.num_key_value_heads, capacity, config_.head_dim}, opts));
  }
  return cache;
}

at::Tensor Transformer::attention_block(int64_t i, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                        const at::Tensor& mask, const AttentionKV& kv) const {
  const LayerWeights& w = layers_[i];
  const ModelConfig& c = config_;
  int64_t B = x.size(0), L = x.size(1), D = c.head_dim;
  int64_t Q = c.num_attention_heads * D, KVD = c.num_key_value_heads * D;
  at::Tensor q, k, v;  // [B, L, heads * D]
  if (w.qkv_proj.defined()) {
    at::Tensor qkv = gemm::linear(x, w.qkv_proj, w.qkv_bias);
    q = qkv.narrow(-1, 0, Q), k = qkv.narrow(-1, Q, KVD), v = qkv.narrow(-1, Q + KVD, KVD);
  } else {
    q = gemm::linear(x, w.q_proj, w.q_bias);
    k = gemm::linear(x, w.k_proj, w.k_bias);
    v = gemm::linear(x, w.v_proj, w.v_bias);
  }
  // -> [B, heads, L, D]
  q = q.view({B, L, c.num_attention_heads, D}).transpose(1, 2);
  k = k.view({B, L, c.num_key_value_heads, D}).transpose(1, 2);
  v = v.view({B, L, c.num_key_value_heads, D}).transpose(1, 2);
  if (c.qk_norm) {
    q = rms_norm(q, w.q_norm, c.rms_norm_eps);
    k = rms_norm(k, w.k_norm, c.rms_norm_eps);
  }
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  if (kv.keys_out) {
    kv.keys_out->k.push_back(k);
    kv.keys_out->v.push_back(v);
  }
  if (kv.cache) {
    int64_t S = mask.size(3);
    at::Tensor rows = at::arange(B, kv.cache_slots.options()).unsqueeze(1).expand({B, L});
    // Advanced indices on dims 0 and 2 put the indexed dims first: values are [B, L, KV, D].
    kv.cache->k[i].index_put_({rows, at::indexing::Slice(), kv.cache_slots}, k.transpose(1, 2));
    kv.cache->v[i].index_put_({rows, at::indexing::Slice(), kv.cache_slots}, v.transpose(1, 2));
    k = kv.cache->k[i].narrow(2, 0, S);
    v = kv.cache->v[i].narrow(2, 0, S);
  }
  if (kv.prefix) {
    k = at::cat({kv.prefix->k[i].index_select(0, kv.prefix_rows), k}, 2);
    v = at::cat({kv.prefix->v[i].index_select(0, kv.prefix_rows), v}, 2);
  }
  at::Tensor out = grouped_attention(q, k, v, mask);  // [B, H, L, D]
  out = out.transpose(1, 2).reshape({B, L, c.num_attention_heads * D});
  return gemm::linear(out, w.o_proj, w.o_bias);
}

at::Tensor Transformer::mlp_block(int64_t i, const at::Tensor& x) const {
  const LayerWeights& w = layers_[i];
  at::Tensor gate, up;
  if (w.gate_up_proj.defined()) {
    at::Tensor gate_up = gemm::linear(x, w.gate_up_proj, w.gate_up_bias);
    int64_t F = config_.intermediate_size;
    gate = gate_up.narrow(-1, 0, F), up = gate_up.narrow(-1, F, F);
  } else {
    gate = gemm::linear(x, w.gate_proj, w.gate_bias), up = gemm::linear(x, w.up_proj, w.up_bias);
  }
  return gemm::linear(at::silu(gate) * up, w.down_proj, w.down_bias);
}

at::Tensor Transformer::forward(const at::Tensor& ids, const at::Tensor& positions, const at::Tensor& allowed,
                                const AttentionKV& kv) const {
  at::Tensor h = at::embedding(embed_, ids);
  // cos/sin [B, 1, L, D] in fp32 as transformers computes them, then cast.
  at::Tensor freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq_.to(positions.device());
  at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);
  at::Tensor cos = emb.cos().to(dtype_), sin = emb.sin().to(dtype_);
  at::Tensor mask =
      grouped_attention_mask(allowed, config_.num_attention_heads / config_.num_key_value_heads, dtype_);
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    const LayerWeights& w = layers_[i];
    h = h + attention_block(i, rms_norm(h, w.input_norm, config_.rms_norm_eps), cos, sin, mask, kv);
    h = h + mlp_block(i, rms_norm(h, w.post_attention_norm, config_.rms_norm_eps));
  }
  return rms_norm(h, final_norm_, config_.rms_norm_eps);
}

at::Tensor Transformer::lm_head(const at::Tensor& hidden) const { return gemm::linear(hidden, lm_head_); }

Status Transformer::save(const std::string& dir, const std::string& tokenizer_from) const {
  ModelConfig config = config_;
  auto dtype_name = dtype_ == at::kBFloat16 ? "bfloat16" : dtype_ == at::kHalf ? "float16" : "float32";
  config.dtype = dtype_name;
  SaveOptions options;
  options.tokenizer_from = tokenizer_from;
  return save_checkpoint(dir, config, tensors_, options);
}

}  // namespace r1
