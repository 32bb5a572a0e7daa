#include "model/mla_attention.h"

#include <cmath>

#include "model/gemm.h"
#include "model/layer_ops.h"
#include "model/rope.h"

namespace r1 {

namespace {

// q_a_layernorm and kv_a_layernorm use transformers' default eps, not rms_norm_eps.
constexpr double kLatentNormEps = 1e-6;

// DeepSeek lays the rope dims out as pairs (x0, x1), (x2, x3), ...: gathered
// into halves [x0, x2, ...; x1, x3, ...] they rotate like any RoPE. Queries
// and keys get the same layout, so their products are unchanged.
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool interleave) {
  if (!interleave) return apply_rope(x, cos, sin);
  at::Tensor halves = x.unflatten(-1, {x.size(-1) / 2, 2}).transpose(-1, -2).flatten(-2);
  return apply_rope(halves, cos, sin);
}

// Multiply-adds per head. Expanded: L*S*(nope + rope + v) for attention plus
// S*rank*(nope + v) to expand every key. Absorbed: L*S*(2*rank + rope) plus
// L*rank*(nope + v) to fold kv_b_proj into queries and outputs.
bool absorbed_is_cheaper(const MlaConfig& m, int64_t L, int64_t S) {
  double nv = static_cast<double>(m.qk_nope_head_dim + m.v_head_dim), r = static_cast<double>(m.kv_lora_rank);
  double rope = static_cast<double>(m.qk_rope_head_dim), l = static_cast<double>(L), s = static_cast<double>(S);
  return l * s * (2 * r + rope) + l * r * nv < l * s * (nv + rope) + s * r * nv;
}

// [B, H, L, D] -> [B, 1, H * L, D]: the heads folded into the query length,
// so that one product serves all heads against the shared latent / rope key.
at::Tensor fold_heads(const at::Tensor& q) { return q.reshape({q.size(0), 1, q.size(1) * q.size(2), q.size(3)}); }

// a @ b^T in fp32 (scores are kept in fp32, as the dense path keeps them).
at::Tensor scores_fp32(const at::Tensor& a, const at::Tensor& b) {
  return gemm::matmul(a.to(at::kFloat), b.to(at::kFloat).transpose(-1, -2));
}

at::Tensor probabilities(at::Tensor scores, double scale, const at::Tensor& mask, at::ScalarType dtype) {
  return at::softmax(scores.mul_(scale) + mask, -1).to(dtype);
}

struct MlaQueries {
  at::Tensor nope, rope;  // [B, H, L, nope], [B, H, L, rope] (rotated)
};

// Keys and values per head from the latents [B, 1, S, rank]: attention as transformers computes it.
at::Tensor expanded_attention(const MlaWeights& w, const ModelConfig& c, const MlaQueries& q, const at::Tensor& latent,
                              const at::Tensor& rope_key, const at::Tensor& mask) {
  const MlaConfig& m = c.mla;
  int64_t B = q.nope.size(0), H = q.nope.size(1), L = q.nope.size(2), S = latent.size(2);
  at::Tensor kv = gemm::linear(latent.squeeze(1), w.kv_b_proj)
                      .view({B, S, H, m.qk_nope_head_dim + m.v_head_dim})
                      .transpose(1, 2);  // [B, H, S, nope + v]
  at::Tensor k_nope = kv.narrow(-1, 0, m.qk_nope_head_dim), v = kv.narrow(-1, m.qk_nope_head_dim, m.v_head_dim);
  at::Tensor scores = scores_fp32(q.nope, k_nope).view({B, 1, H * L, S}) + scores_fp32(fold_heads(q.rope), rope_key);
  at::Tensor p = probabilities(scores, mla_softmax_scale(c), mask, q.nope.scalar_type()).view({B, H, L, S});
  return gemm::matmul(p, v);  // [B, H, L, v]
}

// Attention over the latents themselves: q_nope k_nope^T = (q_nope W_uk) c^T
// and p (c W_uv^T) = (p c) W_uv^T, with W_uk, W_uv the per-head blocks of kv_b_proj.
at::Tensor absorbed_attention(const MlaWeights& w, const ModelConfig& c, const MlaQueries& q, const at::Tensor& latent,
                              const at::Tensor& rope_key, const at::Tensor& mask) {
  const MlaConfig& m = c.mla;
  int64_t B = q.nope.size(0), H = q.nope.size(1), L = q.nope.size(2), r = m.kv_lora_rank;
  MlaWeights u = w;
  if (!u.w_uk.defined()) split_kv_b_proj(u, c);  // training: copies in the graph of the trained kv_b_proj
  at::Tensor q_latent = gemm::matmul(q.nope.transpose(0, 1).reshape({H, B * L, m.qk_nope_head_dim}), u.w_uk)
                            .view({H, B, L, r})
                            .transpose(0, 1);  // [B, H, L, rank]
  at::Tensor scores = scores_fp32(fold_heads(q_latent), latent) + scores_fp32(fold_heads(q.rope), rope_key);
  at::Tensor p = probabilities(scores, mla_softmax_scale(c), mask, q.nope.scalar_type());  // [B, 1, H * L, S]
  at::Tensor out_latent = gemm::matmul(p, latent).view({B, H, L, r}).transpose(0, 1).reshape({H, B * L, r});
  return gemm::matmul(out_latent, u.w_uv.transpose(1, 2)).view({H, B, L, m.v_head_dim}).transpose(0, 1);
}

MlaQueries queries(const MlaWeights& w, const ModelConfig& c, const at::Tensor& x, const at::Tensor& cos,
                   const at::Tensor& sin) {
  const MlaConfig& m = c.mla;
  at::Tensor q =
      m.q_lora_rank > 0
          ? gemm::linear(rms_norm(gemm::linear(x, w.q_a_proj, w.q_a_bias), w.q_a_norm, kLatentNormEps), w.q_b_proj)
          : gemm::linear(x, w.q_proj);
  q = q.view({x.size(0), x.size(1), c.num_attention_heads, m.qk_nope_head_dim + m.qk_rope_head_dim}).transpose(1, 2);
  return {q.narrow(-1, 0, m.qk_nope_head_dim),
          rope(q.narrow(-1, m.qk_nope_head_dim, m.qk_rope_head_dim), cos, sin, m.rope_interleave)};
}

}  // namespace

double mla_softmax_scale(const ModelConfig& c) {
  double scale = std::pow(static_cast<double>(c.mla.qk_nope_head_dim + c.mla.qk_rope_head_dim), -0.5);
  const RopeScaling& r = c.rope_scaling;
  if (r.type != "default" && r.mscale_all_dim != 0) {
    double mscale = yarn_mscale(r.factor, r.mscale_all_dim);
    scale = scale * mscale * mscale;
  }
  return scale;
}

void split_kv_b_proj(MlaWeights& w, const ModelConfig& c) {
  const MlaConfig& m = c.mla;
  at::Tensor per_head = w.kv_b_proj.view({c.num_attention_heads, m.qk_nope_head_dim + m.v_head_dim, m.kv_lora_rank});
  w.w_uk = per_head.narrow(1, 0, m.qk_nope_head_dim).contiguous();
  w.w_uv = per_head.narrow(1, m.qk_nope_head_dim, m.v_head_dim).contiguous();
}

at::Tensor mla_attention(const MlaWeights& w, const ModelConfig& c, int64_t layer, const at::Tensor& x,
                         const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask, const AttentionKV& kv,
                         MlaForm form) {
  const MlaConfig& m = c.mla;
  int64_t B = x.size(0), L = x.size(1), r = m.kv_lora_rank;
  MlaQueries q = queries(w, c, x, cos, sin);
  at::Tensor compressed = gemm::linear(x, w.kv_a_proj, w.kv_a_bias);  // [B, L, rank + rope]
  at::Tensor latent = rms_norm(compressed.narrow(-1, 0, r), w.kv_a_norm, kLatentNormEps).unsqueeze(1);
  at::Tensor rope_key = rope(compressed.narrow(-1, r, m.qk_rope_head_dim).unsqueeze(1), cos, sin, m.rope_interleave);
  auto [latents, rope_keys] = layer_keys(kv, layer, latent, rope_key, mask.size(3));
  bool absorbed = form == MlaForm::kAbsorbed || (form == MlaForm::kAuto && absorbed_is_cheaper(m, L, latents.size(2)));
  at::Tensor out = absorbed ? absorbed_attention(w, c, q, latents, rope_keys, mask)
                            : expanded_attention(w, c, q, latents, rope_keys, mask);  // [B, H, L, v]
  out = out.transpose(1, 2).reshape({B, L, c.num_attention_heads * m.v_head_dim});
  return gemm::linear(out, w.o_proj, w.o_bias);
}

void mla_tensor_shapes(const ModelConfig& c, const std::string& p, TensorShapes& out) {
  const MlaConfig& m = c.mla;
  int64_t h = c.hidden_size, heads = c.num_attention_heads, qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
  std::string a = p + "self_attn.";
  if (m.q_lora_rank > 0) {
    out.push_back({a + "q_a_proj.weight", {m.q_lora_rank, h}});
    if (c.qkv_bias) out.push_back({a + "q_a_proj.bias", {m.q_lora_rank}});
    out.push_back({a + "q_a_layernorm.weight", {m.q_lora_rank}});
    out.push_back({a + "q_b_proj.weight", {heads * qk, m.q_lora_rank}});
  } else {
    out.push_back({a + "q_proj.weight", {heads * qk, h}});
  }
  out.push_back({a + "kv_a_proj_with_mqa.weight", {m.kv_lora_rank + m.qk_rope_head_dim, h}});
  if (c.qkv_bias) out.push_back({a + "kv_a_proj_with_mqa.bias", {m.kv_lora_rank + m.qk_rope_head_dim}});
  out.push_back({a + "kv_a_layernorm.weight", {m.kv_lora_rank}});
  out.push_back({a + "kv_b_proj.weight", {heads * (m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank}});
  out.push_back({a + "o_proj.weight", {h, heads * m.v_head_dim}});
  if (c.o_bias) out.push_back({a + "o_proj.bias", {h}});
}

MlaWeights bind_mla(const std::function<at::Tensor(const std::string&)>& get, const std::string& p) {
  std::string a = p + "self_attn.";
  MlaWeights w;
  w.q_proj = get(a + "q_proj.weight");
  w.q_a_proj = get(a + "q_a_proj.weight");
  w.q_a_bias = get(a + "q_a_proj.bias");
  w.q_a_norm = get(a + "q_a_layernorm.weight");
  w.q_b_proj = get(a + "q_b_proj.weight");
  w.kv_a_proj = get(a + "kv_a_proj_with_mqa.weight");
  w.kv_a_bias = get(a + "kv_a_proj_with_mqa.bias");
  w.kv_a_norm = get(a + "kv_a_layernorm.weight");
  w.kv_b_proj = get(a + "kv_b_proj.weight");
  w.o_proj = get(a + "o_proj.weight");
  w.o_bias = get(a + "o_proj.bias");
  return w;
}

}  // namespace r1
