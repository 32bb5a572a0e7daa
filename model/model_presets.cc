#include "model/model_presets.h"

#include <algorithm>

namespace r1 {

namespace {

struct Preset {
  const char* name;
  int64_t layers, hidden, heads, kv_heads, intermediate, max_positions;
  bool tied;
};

constexpr Preset kPresets[] = {
    {"tiny", 2, 64, 4, 2, 176, 2048, true},
    {"small", 4, 256, 8, 2, 704, 4096, true},
    {"medium", 8, 512, 8, 2, 1536, 4096, false},
    {"qwen2.5-0.5b", 24, 896, 14, 2, 4864, 32768, true},
};

// DeepSeek's attention and experts at the dense presets' sizes: MLA
// without q-LoRA (as Moonlight), and fine-grained experts whose active
// width (top-k routed plus shared) is about the dense MLP's at the same size.
struct DeepseekPreset {
  const char* name;
  int64_t kv_lora_rank, qk_nope, qk_rope, v_head;
  int64_t routed, top_k, shared, moe_intermediate, first_dense, groups, topk_groups;
};

constexpr DeepseekPreset kDeepseekPresets[] = {
    {"tiny", 32, 16, 8, 16, 8, 2, 1, 48, 1, 2, 2},
    {"small", 64, 32, 16, 32, 16, 4, 1, 128, 1, 4, 2},
};

Status apply_deepseek_preset(ModelConfig& c, const std::string& preset) {
  for (const auto& d : kDeepseekPresets) {
    if (preset != d.name) continue;
    c.num_key_value_heads = c.num_attention_heads;
    c.head_dim = d.qk_rope;
    c.rope_theta = 10000.0;
    c.mla = {0, d.kv_lora_rank, d.qk_nope, d.qk_rope, d.v_head, true};
    MoeConfig& e = c.moe;
    e.n_routed_experts = d.routed, e.num_experts_per_tok = d.top_k, e.n_shared_experts = d.shared;
    e.moe_intermediate_size = d.moe_intermediate, e.first_k_dense_replace = d.first_dense;
    e.routed_scaling_factor = 1.0;
    bool v3 = c.family == ModelFamily::deepseek_v3;
    e.norm_topk_prob = v3;
    e.scoring_func = v3 ? "sigmoid" : "softmax";
    e.topk_method = v3 ? "noaux_tc" : "greedy";
    e.n_group = v3 ? d.groups : 1, e.topk_group = v3 ? d.topk_groups : 1;
    return Status();
  }
  return Status::error("preset '" + preset + "' has no " + model_family_name(c.family) + " shape (tiny, small)");
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.push_back(p.name);
  return names;
}

Result<ModelConfig> preset_config(ModelFamily family, const std::string& preset) {
  for (const auto& p : kPresets) {
    if (preset != p.name) continue;
    ModelConfig c;
    c.family = family;
    c.num_hidden_layers = p.layers;
    c.hidden_size = p.hidden;
    c.num_attention_heads = p.heads;
    c.num_key_value_heads = p.kv_heads;
    c.head_dim = p.hidden / p.heads;
    c.intermediate_size = p.intermediate;
    c.max_position_embeddings = p.max_positions;
    c.tie_word_embeddings = p.tied;
    c.rms_norm_eps = 1e-6;
    switch (family) {
      case ModelFamily::qwen2:
        c.qkv_bias = true;
        c.rope_theta = 1000000.0;
        break;
      case ModelFamily::llama:
        c.rope_theta = 500000.0;
        c.rope_scaling.type = "llama3";
        c.rope_scaling.factor = 8.0;
        c.rope_scaling.low_freq_factor = 1.0;
        c.rope_scaling.high_freq_factor = 4.0;
        c.rope_scaling.original_max_position_embeddings = std::min<int64_t>(8192, p.max_positions / 2);
        break;
      case ModelFamily::qwen3:
        c.qk_norm = true;
        c.rope_theta = 1000000.0;
        break;
      case ModelFamily::deepseek_v2:
      case ModelFamily::deepseek_v3:
        R1_RETURN_IF_ERROR(apply_deepseek_preset(c, preset));
        break;
    }
    return c;
  }
  std::string names;
  for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  return Status::error("unknown preset '" + preset + "' (" + names + ")");
}

}  // namespace r1
