// The model configuration, read from and written to a Hugging Face
// config.json. Covers the Qwen2/Qwen2.5, Llama (incl. Llama-3 rope scaling)
// and Qwen3 families: decoder-only, GQA, RoPE, RMSNorm, SwiGLU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/json.h"
#include "util/status.h"

namespace r1 {

enum class ModelFamily { qwen2, llama, qwen3 };

Result<ModelFamily> parse_model_family(const std::string& model_type);
const char* model_family_name(ModelFamily family);  // the HF model_type

struct RopeScaling {
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;    // llama3
  double high_freq_factor = 4.0;   // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  ModelFamily family = ModelFamily::qwen2;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // hidden_size / num_attention_heads unless given
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;       // Qwen2: always; Llama/Qwen3: attention_bias
  bool o_bias = false;         // Llama/Qwen3: attention_bias
  bool mlp_bias = false;       // Llama: mlp_bias
  bool qk_norm = false;        // Qwen3: RMSNorm on q and k per head
  std::string dtype = "float32";  // float32 | bfloat16 | float16: the stored weights
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;
  double initializer_range = 0.02;

  // Parses config.json; errors name the file and the field.
  static Result<ModelConfig> from_json(const JsonValue& json, const std::string& where);
  static Result<ModelConfig> load(const std::string& dir);

  // config.json text that transformers loads into the matching *ForCausalLM.
  std::string to_json() const;

  int64_t num_parameters() const;

  // An error naming `where` when an id lies outside [0, vocab_size).
  Status check_token_ids(const std::vector<int64_t>& ids, const std::string& where) const;
};

}  // namespace r1
