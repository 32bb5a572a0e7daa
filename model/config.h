// The model configuration, read from and written to a Hugging Face
// config.json. Covers the Qwen2/Qwen2.5, Llama (incl. Llama-3 rope scaling)
// and Qwen3 families (decoder-only, GQA, RoPE, RMSNorm, SwiGLU), and
// DeepSeek V2/V3: Multi-head Latent Attention, DeepSeekMoE, YaRN
// (model/config_deepseek.cc reads their fields).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/json.h"
#include "util/status.h"

namespace r1 {

enum class ModelFamily { qwen2, llama, qwen3, deepseek_v2, deepseek_v3 };

Result<ModelFamily> parse_model_family(const std::string& model_type);
const char* model_family_name(ModelFamily family);  // the HF model_type

struct RopeScaling {
  std::string type = "default";  // default | linear | llama3 | yarn (DeepSeek only)
  double factor = 1.0;
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3, yarn
  // yarn: the ramp between extrapolated and interpolated frequencies, and
  // the magnitude corrections (0 = absent, as transformers reads them).
  double beta_fast = 32.0, beta_slow = 1.0;
  double mscale = 0.0, mscale_all_dim = 0.0;
  std::optional<double> attention_factor;  // scales cos/sin; derived from the above when absent
  bool truncate = true;
};

// Multi-head Latent Attention (DeepSeek V2/V3): queries through an optional
// low-rank pair (q_a_proj, q_b_proj), keys and values expanded from one
// latent per token (kv_lora_rank) plus one rope key shared by all heads.
struct MlaConfig {
  int64_t q_lora_rank = 0;  // 0: one q_proj (`q_lora_rank: null`, as Moonlight and V2-Lite)
  int64_t kv_lora_rank = 0;  // 0: not MLA
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  bool rope_interleave = true;  // rope dims rotate as pairs (x0, x1), (x2, x3), ...; else as halves
};

// DeepSeekMoE: after the first `first_k_dense_replace` dense layers, each
// layer's MLP is n_shared_experts always-on experts (one MLP of width
// n_shared_experts * moe_intermediate_size) plus num_experts_per_tok of
// n_routed_experts chosen per token by the router.
struct MoeConfig {
  int64_t n_routed_experts = 0;  // 0: every layer dense
  int64_t num_experts_per_tok = 0;
  int64_t n_shared_experts = 0;
  int64_t moe_intermediate_size = 0;
  int64_t first_k_dense_replace = 0;
  double routed_scaling_factor = 1.0;
  bool norm_topk_prob = false;
  // V3: sigmoid scores, chosen by score + e_score_correction_bias within the
  // best topk_group of n_group groups (noaux_tc). V2: softmax scores, greedy
  // or group_limited_greedy.
  std::string scoring_func = "softmax";  // sigmoid | softmax
  std::string topk_method = "greedy";    // noaux_tc | greedy | group_limited_greedy
  int64_t n_group = 1;
  int64_t topk_group = 1;

  bool moe_layer(int64_t layer) const { return n_routed_experts > 0 && layer >= first_k_dense_replace; }
  // Experts one token is routed to across a model of `layers` layers (0 when dense).
  int64_t routes_per_token(int64_t layers) const {
    return n_routed_experts > 0 ? std::max<int64_t>(0, layers - first_k_dense_replace) * num_experts_per_tok : 0;
  }
};

// What sits on the decoder: the LM head (*ForCausalLM) or a score head
// (*ForSequenceClassification, as reward models are: `score.weight`
// [num_labels, hidden] read at each sequence's last token).
enum class ModelHead { causal_lm, sequence_classification };

struct ModelConfig {
  ModelFamily family = ModelFamily::qwen2;
  ModelHead head = ModelHead::causal_lm;  // from `architectures`
  int64_t num_labels = 2;  // sequence_classification: id2label's size, else transformers' default 2
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given; MLA: qk_rope_head_dim (the rope width)
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;       // Qwen2: always; Llama/Qwen3: attention_bias
  bool o_bias = false;         // Llama/Qwen3: attention_bias
  bool mlp_bias = false;       // Llama: mlp_bias
  bool qk_norm = false;        // Qwen3: RMSNorm on q and k per head
  // DeepSeek: attention_bias sets qkv_bias (q_a_proj, kv_a_proj_with_mqa) and o_bias.
  MlaConfig mla;
  MoeConfig moe;
  int64_t num_nextn_predict_layers = 0;  // DeepSeek-V3's multi-token-prediction layers: not loaded
  std::string dtype = "float32";  // float32 | bfloat16 | float16: the stored weights
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  double initializer_range = 0.02;

  // Parses config.json; errors name the file and the field.
  static Result<ModelConfig> from_json(const JsonValue& json, const std::string& where);
  static Result<ModelConfig> load(const std::string& dir);

  // config.json text that transformers loads into the matching *ForCausalLM
  // (or *ForSequenceClassification).
  std::string to_json() const;

  int64_t num_parameters() const;
  bool is_mla() const { return mla.kv_lora_rank > 0; }

  // An error naming `where` when an id lies outside [0, vocab_size).
  Status check_token_ids(const std::vector<int64_t>& ids, const std::string& where) const;
};

}  // namespace r1
