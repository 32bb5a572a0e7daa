#include "model/model_presets.h"

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
        c.rope_scaling = {"llama3", 8.0, 1.0, 4.0, std::min<int64_t>(8192, p.max_positions / 2)};
        break;
      case ModelFamily::qwen3:
        c.qk_norm = true;
        c.rope_theta = 1000000.0;
        break;
    }
    return c;
  }
  std::string names;
  for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
  return Status::error("unknown preset '" + preset + "' (" + names + ")");
}

}  // namespace r1
