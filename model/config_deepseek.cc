#include "model/config_deepseek.h"

namespace r1 {

namespace {

Status require_positive(int64_t value, const char* key, const std::string& where) {
  if (value <= 0) return Status::error(where + ": field '" + key + "' must be positive, got " + std::to_string(value));
  return Status();
}

Status parse_mla(const JsonValue& json, const std::string& where, ModelConfig& c) {
  MlaConfig& m = c.mla;
  R1_ASSIGN_OR_RETURN(m.q_lora_rank, json_int_or(json, "q_lora_rank", 0, where));  // null: a full q_proj
  R1_ASSIGN_OR_RETURN(m.kv_lora_rank, json_int(json, "kv_lora_rank", where));
  R1_ASSIGN_OR_RETURN(m.qk_nope_head_dim, json_int(json, "qk_nope_head_dim", where));
  R1_ASSIGN_OR_RETURN(m.qk_rope_head_dim, json_int(json, "qk_rope_head_dim", where));
  R1_ASSIGN_OR_RETURN(m.v_head_dim, json_int(json, "v_head_dim", where));
  if (m.q_lora_rank < 0) return Status::error(where + ": field 'q_lora_rank' must be null or positive");
  for (auto [value, key] : {std::pair{m.kv_lora_rank, "kv_lora_rank"},
                            {m.qk_nope_head_dim, "qk_nope_head_dim"},
                            {m.qk_rope_head_dim, "qk_rope_head_dim"},
                            {m.v_head_dim, "v_head_dim"}})
    R1_RETURN_IF_ERROR(require_positive(value, key, where));
  if (m.qk_rope_head_dim % 2 != 0) return Status::error(where + ": field 'qk_rope_head_dim' must be even for RoPE");
  // V2 rotates complex pairs; V3 pairs unless rope_interleave is false.
  m.rope_interleave = true;
  if (c.family == ModelFamily::deepseek_v3) {
    R1_ASSIGN_OR_RETURN(m.rope_interleave, json_bool_or(json, "rope_interleave", true, where));
  }
  c.head_dim = m.qk_rope_head_dim;  // as transformers sets it: the rope frequencies' width
  // Every head expands its keys from the shared latent: there are no KV groups.
  if (c.num_key_value_heads != c.num_attention_heads)
    return Status::error(where + ": field 'num_key_value_heads' must equal num_attention_heads (" +
                         std::to_string(c.num_attention_heads) + ") for multi-head latent attention, got " +
                         std::to_string(c.num_key_value_heads));
  return Status();
}

// The routing rule transformers implements for each family: V3 sigmoid
// scores with the correction bias (noaux_tc), V2 softmax scores.
Status check_routing(const std::string& where, const ModelConfig& c) {
  const MoeConfig& e = c.moe;
  if (c.family == ModelFamily::deepseek_v3) {
    if (e.scoring_func != "sigmoid")
      return Status::error(where + ": field 'scoring_func' must be \"sigmoid\" for deepseek_v3, got \"" +
                           e.scoring_func + "\"");
    if (e.topk_method != "noaux_tc")
      return Status::error(where + ": field 'topk_method' must be \"noaux_tc\" for deepseek_v3, got \"" +
                           e.topk_method + "\"");
  } else {
    if (e.scoring_func != "softmax")
      return Status::error(where + ": field 'scoring_func' must be \"softmax\" for deepseek_v2, got \"" +
                           e.scoring_func + "\"");
    if (e.topk_method != "greedy" && e.topk_method != "group_limited_greedy")
      return Status::error(where + ": field 'topk_method' must be \"greedy\" or \"group_limited_greedy\" for " +
                           "deepseek_v2, got \"" + e.topk_method + "\"");
    // transformers' DeepseekV2 never renormalises; doing it here would change the logits.
    if (e.norm_topk_prob)
      return Status::error(where + ": field 'norm_topk_prob' must be false for deepseek_v2 (transformers ignores it)");
  }
  return Status();
}

Status check_groups(const std::string& where, const MoeConfig& e, bool v3) {
  if (e.n_group < 1 || e.n_routed_experts % e.n_group != 0)
    return Status::error(where + ": field 'n_group' (" + std::to_string(e.n_group) +
                         ") must divide n_routed_experts (" + std::to_string(e.n_routed_experts) + ")");
  if (e.topk_group < 1 || e.topk_group > e.n_group)
    return Status::error(where + ": field 'topk_group' must lie in [1, n_group = " + std::to_string(e.n_group) + "]");
  int64_t per_group = e.n_routed_experts / e.n_group;
  if (v3 && per_group < 2)  // a group's score is the sum of its two best experts
    return Status::error(where + ": deepseek_v3 needs at least 2 experts per group (n_routed_experts / n_group)");
  if (e.num_experts_per_tok > e.topk_group * per_group)
    return Status::error(where + ": field 'num_experts_per_tok' (" + std::to_string(e.num_experts_per_tok) +
                         ") exceeds the experts of topk_group groups (" + std::to_string(e.topk_group * per_group) +
                         ")");
  return Status();
}

Status parse_moe(const JsonValue& json, const std::string& where, ModelConfig& c) {
  bool v3 = c.family == ModelFamily::deepseek_v3;
  MoeConfig& e = c.moe;
  R1_ASSIGN_OR_RETURN(e.n_routed_experts, json_int(json, "n_routed_experts", where));
  R1_ASSIGN_OR_RETURN(e.num_experts_per_tok, json_int(json, "num_experts_per_tok", where));
  R1_ASSIGN_OR_RETURN(e.moe_intermediate_size, json_int(json, "moe_intermediate_size", where));
  for (auto [value, key] : {std::pair{e.n_routed_experts, "n_routed_experts"},
                            {e.num_experts_per_tok, "num_experts_per_tok"},
                            {e.moe_intermediate_size, "moe_intermediate_size"}})
    R1_RETURN_IF_ERROR(require_positive(value, key, where));
  // Behavioural keys default as transformers' config classes do.
  R1_ASSIGN_OR_RETURN(e.n_shared_experts, json_int_or(json, "n_shared_experts", v3 ? 1 : 2, where));
  R1_ASSIGN_OR_RETURN(e.first_k_dense_replace, json_int_or(json, "first_k_dense_replace", v3 ? 3 : 0, where));
  R1_ASSIGN_OR_RETURN(e.routed_scaling_factor, json_double_or(json, "routed_scaling_factor", v3 ? 2.5 : 1.0, where));
  R1_ASSIGN_OR_RETURN(e.norm_topk_prob, json_bool_or(json, "norm_topk_prob", v3, where));
  R1_ASSIGN_OR_RETURN(e.scoring_func, json_string_or(json, "scoring_func", v3 ? "sigmoid" : "softmax", where));
  R1_ASSIGN_OR_RETURN(e.topk_method, json_string_or(json, "topk_method", v3 ? "noaux_tc" : "greedy", where));
  R1_RETURN_IF_ERROR(check_routing(where, c));
  if (e.n_shared_experts < 0) return Status::error(where + ": field 'n_shared_experts' must be >= 0");
  if (e.first_k_dense_replace < 0) return Status::error(where + ": field 'first_k_dense_replace' must be >= 0");
  if (e.num_experts_per_tok > e.n_routed_experts)
    return Status::error(where + ": field 'num_experts_per_tok' exceeds n_routed_experts");
  bool grouped = v3 || e.topk_method == "group_limited_greedy";
  e.n_group = e.topk_group = 1;
  if (grouped) {
    R1_ASSIGN_OR_RETURN(e.n_group, v3 ? json_int_or(json, "n_group", 8, where) : json_int(json, "n_group", where));
    R1_ASSIGN_OR_RETURN(e.topk_group,
                        v3 ? json_int_or(json, "topk_group", 4, where) : json_int(json, "topk_group", where));
    R1_RETURN_IF_ERROR(check_groups(where, e, v3));
  }
  R1_ASSIGN_OR_RETURN(c.num_nextn_predict_layers, json_int_or(json, "num_nextn_predict_layers", 0, where));
  return Status();
}

}  // namespace

Status parse_deepseek_fields(const JsonValue& json, const std::string& where, ModelConfig& c) {
  R1_RETURN_IF_ERROR(parse_mla(json, where, c));
  return parse_moe(json, where, c);
}

Status parse_yarn(const JsonValue& s, const std::string& where, ModelConfig& c) {
  RopeScaling& r = c.rope_scaling;
  R1_ASSIGN_OR_RETURN(r.original_max_position_embeddings,
                      json_int_or(s, "original_max_position_embeddings", c.max_position_embeddings, where));
  R1_RETURN_IF_ERROR(require_positive(r.original_max_position_embeddings, "original_max_position_embeddings", where));
  if (!json_has(s, "factor"))  // as transformers: the ratio of the context lengths
    r.factor = static_cast<double>(c.max_position_embeddings) / r.original_max_position_embeddings;
  if (r.factor <= 0) return Status::error(where + ": field 'factor' must be positive");
  // `x or default`, as transformers reads them: 0 means the default too.
  R1_ASSIGN_OR_RETURN(r.beta_fast, json_double_or(s, "beta_fast", 32.0, where));
  R1_ASSIGN_OR_RETURN(r.beta_slow, json_double_or(s, "beta_slow", 1.0, where));
  if (r.beta_fast == 0) r.beta_fast = 32.0;
  if (r.beta_slow == 0) r.beta_slow = 1.0;
  R1_ASSIGN_OR_RETURN(r.mscale, json_double_or(s, "mscale", 0.0, where));
  R1_ASSIGN_OR_RETURN(r.mscale_all_dim, json_double_or(s, "mscale_all_dim", 0.0, where));
  R1_ASSIGN_OR_RETURN(r.truncate, json_bool_or(s, "truncate", true, where));
  if (json_has(s, "attention_factor")) {
    R1_ASSIGN_OR_RETURN(double f, json_double(s, "attention_factor", where));
    r.attention_factor = f;
  }
  return Status();
}

void write_yarn(ConfigJsonWriter& w, const RopeScaling& r) {
  w.Key("original_max_position_embeddings");
  w.Int64(r.original_max_position_embeddings);
  w.Key("beta_fast");
  w.Double(r.beta_fast);
  w.Key("beta_slow");
  w.Double(r.beta_slow);
  if (r.mscale != 0) {
    w.Key("mscale");
    w.Double(r.mscale);
  }
  if (r.mscale_all_dim != 0) {
    w.Key("mscale_all_dim");
    w.Double(r.mscale_all_dim);
  }
  if (r.attention_factor) {
    w.Key("attention_factor");
    w.Double(*r.attention_factor);
  }
  if (!r.truncate) {
    w.Key("truncate");
    w.Bool(false);
  }
}

void write_deepseek_fields(ConfigJsonWriter& w, const ModelConfig& c) {
  const MlaConfig& m = c.mla;
  const MoeConfig& e = c.moe;
  w.Key("q_lora_rank");
  if (m.q_lora_rank > 0)
    w.Int64(m.q_lora_rank);
  else
    w.Null();
  w.Key("kv_lora_rank");
  w.Int64(m.kv_lora_rank);
  w.Key("qk_nope_head_dim");
  w.Int64(m.qk_nope_head_dim);
  w.Key("qk_rope_head_dim");
  w.Int64(m.qk_rope_head_dim);
  w.Key("v_head_dim");
  w.Int64(m.v_head_dim);
  if (c.family == ModelFamily::deepseek_v3) {
    w.Key("rope_interleave");
    w.Bool(m.rope_interleave);
  }
  w.Key("n_routed_experts");
  w.Int64(e.n_routed_experts);
  w.Key("num_experts_per_tok");
  w.Int64(e.num_experts_per_tok);
  w.Key("n_shared_experts");
  w.Int64(e.n_shared_experts);
  w.Key("moe_intermediate_size");
  w.Int64(e.moe_intermediate_size);
  w.Key("first_k_dense_replace");
  w.Int64(e.first_k_dense_replace);
  w.Key("routed_scaling_factor");
  w.Double(e.routed_scaling_factor);
  w.Key("norm_topk_prob");
  w.Bool(e.norm_topk_prob);
  w.Key("scoring_func");
  w.String(e.scoring_func.c_str());
  w.Key("topk_method");
  w.String(e.topk_method.c_str());
  w.Key("n_group");
  w.Int64(e.n_group);
  w.Key("topk_group");
  w.Int64(e.topk_group);
  w.Key("num_nextn_predict_layers");
  w.Int64(0);  // never saved: see Transformer::load
}

int64_t deepseek_num_parameters(const ModelConfig& c) {
  const MlaConfig& m = c.mla;
  const MoeConfig& e = c.moe;
  int64_t h = c.hidden_size, heads = c.num_attention_heads, qk = m.qk_nope_head_dim + m.qk_rope_head_dim;
  int64_t q = m.q_lora_rank > 0 ? h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * heads * qk : h * heads * qk;
  int64_t kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank +
               m.kv_lora_rank * heads * (m.qk_nope_head_dim + m.v_head_dim);
  int64_t biases = c.qkv_bias ? (m.q_lora_rank + m.kv_lora_rank + m.qk_rope_head_dim) : 0;
  int64_t attn = q + kv + biases + heads * m.v_head_dim * h + (c.o_bias ? h : 0);
  int64_t dense = 3 * h * c.intermediate_size;
  int64_t moe = (e.n_routed_experts + e.n_shared_experts) * 3 * h * e.moe_intermediate_size + e.n_routed_experts * h +
                (c.family == ModelFamily::deepseek_v3 ? e.n_routed_experts : 0);
  int64_t total = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) total += attn + 2 * h + (e.moe_layer(i) ? moe : dense);
  return total + c.vocab_size * h * (c.tie_word_embeddings ? 1 : 2) + h;
}

}  // namespace r1
