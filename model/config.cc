#include "model/config.h"

#include <rapidjson/prettywriter.h>

#include "model/config_deepseek.h"

namespace r1 {

namespace {

Status check_positive(int64_t value, const char* key, const std::string& where) {
  if (value <= 0) return Status::error(where + ": field '" + key + "' must be positive, got " + std::to_string(value));
  return Status();
}

// HF stores eos_token_id as an int or a list of ints.
Result<std::vector<int64_t>> token_id_list(const JsonValue& json, const char* key, const std::string& where) {
  std::vector<int64_t> ids;
  if (!json_has(json, key)) return ids;
  const JsonValue& v = json[key];
  if (v.IsArray()) {
    for (const auto& id : v.GetArray()) {
      if (!id.IsInt64()) return Status::error(where + ": field '" + key + "' must hold integers");
      ids.push_back(id.GetInt64());
    }
    return ids;
  }
  R1_ASSIGN_OR_RETURN(int64_t id, json_int(json, key, where));
  ids.push_back(id);
  return ids;
}

Result<std::optional<int64_t>> optional_id(const JsonValue& json, const char* key, const std::string& where) {
  if (!json_has(json, key)) return std::optional<int64_t>();
  R1_ASSIGN_OR_RETURN(int64_t id, json_int(json, key, where));
  return std::optional<int64_t>(id);
}

// transformers 5 writes rope settings as `rope_parameters`; 4.x as top-level
// `rope_theta` plus an optional `rope_scaling`. Read both.
Status parse_rope(const JsonValue& json, const std::string& where, ModelConfig& c) {
  const JsonValue* scaling = nullptr;
  std::string scaling_where = where;
  if (json_has(json, "rope_parameters")) {
    scaling = &json["rope_parameters"];
    scaling_where = where + ": rope_parameters";
    if (!scaling->IsObject()) return Status::error(scaling_where + " must be an object");
    R1_ASSIGN_OR_RETURN(c.rope_theta, json_double_or(*scaling, "rope_theta", 10000.0, scaling_where));
  } else {
    R1_ASSIGN_OR_RETURN(c.rope_theta, json_double_or(json, "rope_theta", 10000.0, where));
    if (json_has(json, "rope_scaling")) {
      scaling = &json["rope_scaling"];
      scaling_where = where + ": rope_scaling";
      if (!scaling->IsObject()) return Status::error(scaling_where + " must be an object");
    }
  }
  if (!scaling) return Status();
  RopeScaling& r = c.rope_scaling;
  R1_ASSIGN_OR_RETURN(r.type, json_string_or(*scaling, "rope_type", "", scaling_where));
  if (r.type.empty()) {  // transformers 4.x spelling
    R1_ASSIGN_OR_RETURN(r.type, json_string_or(*scaling, "type", "default", scaling_where));
  }
  bool yarn_allowed = is_deepseek(c.family);
  if (r.type != "default" && r.type != "linear" && r.type != "llama3" && !(yarn_allowed && r.type == "yarn"))
    return Status::error(scaling_where + ": rope type '" + r.type + "' is not supported (default, linear, llama3" +
                         (yarn_allowed ? ", yarn)" : ")"));
  R1_ASSIGN_OR_RETURN(r.factor, json_double_or(*scaling, "factor", 1.0, scaling_where));
  if (r.type == "yarn") return parse_yarn(*scaling, scaling_where, c);
  R1_ASSIGN_OR_RETURN(r.low_freq_factor, json_double_or(*scaling, "low_freq_factor", 1.0, scaling_where));
  R1_ASSIGN_OR_RETURN(r.high_freq_factor, json_double_or(*scaling, "high_freq_factor", 4.0, scaling_where));
  R1_ASSIGN_OR_RETURN(r.original_max_position_embeddings,
                      json_int_or(*scaling, "original_max_position_embeddings", 8192, scaling_where));
  if (r.factor <= 0) return Status::error(scaling_where + ": field 'factor' must be positive");
  if (r.type == "llama3" && r.high_freq_factor <= r.low_freq_factor)
    return Status::error(scaling_where + ": high_freq_factor must exceed low_freq_factor");
  return Status();
}

// `architectures` names the head: *ForCausalLM (or none) or
// *ForSequenceClassification, whose label count is id2label's size (what
// transformers writes; `num_labels` is read too), else transformers' 2.
Status parse_head(const JsonValue& json, const std::string& where, ModelConfig& c) {
  std::vector<std::string> architectures;
  if (json_has(json, "architectures")) {
    R1_ASSIGN_OR_RETURN(architectures, json_string_array(json, "architectures", where));
  }
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  for (const std::string& a : architectures) {
    if (ends_with(a, "ForSequenceClassification")) {
      c.head = ModelHead::sequence_classification;
    } else if (a.find("For") != std::string::npos && !ends_with(a, "ForCausalLM")) {
      return Status::error(where + ": architecture '" + a +
                           "' is not supported (*ForCausalLM, *ForSequenceClassification)");
    }
  }
  if (c.head != ModelHead::sequence_classification) return Status();
  if (json_has(json, "num_labels")) {
    R1_ASSIGN_OR_RETURN(c.num_labels, json_int(json, "num_labels", where));
  } else if (json_has(json, "id2label")) {
    if (!json["id2label"].IsObject()) return Status::error(where + ": field 'id2label' must be an object");
    c.num_labels = json["id2label"].MemberCount();
  }
  return check_positive(c.num_labels, "num_labels", where);
}

}  // namespace

Result<ModelFamily> parse_model_family(const std::string& model_type) {
  if (model_type == "qwen2") return ModelFamily::qwen2;
  if (model_type == "llama") return ModelFamily::llama;
  if (model_type == "qwen3") return ModelFamily::qwen3;
  if (model_type == "deepseek_v2") return ModelFamily::deepseek_v2;
  if (model_type == "deepseek_v3") return ModelFamily::deepseek_v3;
  return Status::error("model_type '" + model_type +
                       "' is not supported (qwen2, llama, qwen3, deepseek_v2, deepseek_v3)");
}

const char* model_family_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::qwen2: return "qwen2";
    case ModelFamily::llama: return "llama";
    case ModelFamily::qwen3: return "qwen3";
    case ModelFamily::deepseek_v2: return "deepseek_v2";
    case ModelFamily::deepseek_v3: return "deepseek_v3";
  }
  return "?";
}

Result<ModelConfig> ModelConfig::from_json(const JsonValue& json, const std::string& where) {
  if (!json.IsObject()) return Status::error(where + ": must be a JSON object");
  ModelConfig c;
  R1_ASSIGN_OR_RETURN(std::string model_type, json_string(json, "model_type", where));
  auto family = parse_model_family(model_type);
  if (!family.ok()) return family.status().with_context(where);
  c.family = *family;
  R1_RETURN_IF_ERROR(parse_head(json, where, c));
  R1_ASSIGN_OR_RETURN(c.vocab_size, json_int(json, "vocab_size", where));
  R1_ASSIGN_OR_RETURN(c.hidden_size, json_int(json, "hidden_size", where));
  R1_ASSIGN_OR_RETURN(c.intermediate_size, json_int(json, "intermediate_size", where));
  R1_ASSIGN_OR_RETURN(c.num_hidden_layers, json_int(json, "num_hidden_layers", where));
  R1_ASSIGN_OR_RETURN(c.num_attention_heads, json_int(json, "num_attention_heads", where));
  R1_ASSIGN_OR_RETURN(c.num_key_value_heads, json_int_or(json, "num_key_value_heads", c.num_attention_heads, where));
  for (auto [value, key] : {std::pair{c.vocab_size, "vocab_size"},
                            {c.hidden_size, "hidden_size"},
                            {c.intermediate_size, "intermediate_size"},
                            {c.num_hidden_layers, "num_hidden_layers"},
                            {c.num_attention_heads, "num_attention_heads"},
                            {c.num_key_value_heads, "num_key_value_heads"}})
    R1_RETURN_IF_ERROR(check_positive(value, key, where));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return Status::error(where + ": num_attention_heads (" + std::to_string(c.num_attention_heads) +
                         ") must be a multiple of num_key_value_heads (" + std::to_string(c.num_key_value_heads) + ")");
  R1_ASSIGN_OR_RETURN(c.max_position_embeddings, json_int_or(json, "max_position_embeddings", 32768, where));
  if (is_deepseek(c.family)) {
    R1_RETURN_IF_ERROR(parse_deepseek_fields(json, where, c));  // head_dim is the rope width there
  } else {
    int64_t default_head_dim = c.hidden_size / c.num_attention_heads;
    R1_ASSIGN_OR_RETURN(c.head_dim, json_int_or(json, "head_dim", default_head_dim, where));
    R1_RETURN_IF_ERROR(check_positive(c.head_dim, "head_dim", where));
    if (c.head_dim % 2 != 0) return Status::error(where + ": field 'head_dim' must be even for RoPE");
  }
  R1_ASSIGN_OR_RETURN(c.rms_norm_eps, json_double_or(json, "rms_norm_eps", 1e-6, where));
  R1_ASSIGN_OR_RETURN(c.tie_word_embeddings, json_bool_or(json, "tie_word_embeddings", false, where));
  R1_ASSIGN_OR_RETURN(c.initializer_range, json_double_or(json, "initializer_range", 0.02, where));
  R1_RETURN_IF_ERROR(parse_rope(json, where, c));
  R1_ASSIGN_OR_RETURN(std::string act, json_string_or(json, "hidden_act", "silu", where));
  if (act != "silu") return Status::error(where + ": field 'hidden_act' must be \"silu\", got \"" + act + "\"");

  R1_ASSIGN_OR_RETURN(bool attention_bias, json_bool_or(json, "attention_bias", false, where));
  R1_ASSIGN_OR_RETURN(c.mlp_bias, json_bool_or(json, "mlp_bias", false, where));
  switch (c.family) {
    case ModelFamily::qwen2: {
      c.qkv_bias = true;  // Qwen2 has q/k/v biases regardless of the config
      R1_ASSIGN_OR_RETURN(bool sliding, json_bool_or(json, "use_sliding_window", false, where));
      if (sliding) return Status::error(where + ": use_sliding_window=true is not supported");
      break;
    }
    case ModelFamily::llama:
      c.qkv_bias = c.o_bias = attention_bias;
      break;
    case ModelFamily::qwen3:
      c.qkv_bias = c.o_bias = attention_bias;
      c.qk_norm = true;
      break;
    case ModelFamily::deepseek_v2:
    case ModelFamily::deepseek_v3:
      c.qkv_bias = c.o_bias = attention_bias;
      break;
  }

  std::string dtype;
  if (json_has(json, "dtype")) {
    R1_ASSIGN_OR_RETURN(dtype, json_string(json, "dtype", where));
  } else {
    R1_ASSIGN_OR_RETURN(dtype, json_string_or(json, "torch_dtype", "float32", where));
  }
  if (dtype != "float32" && dtype != "bfloat16" && dtype != "float16")
    return Status::error(where + ": dtype '" + dtype + "' is not supported (float32, bfloat16, float16)");
  c.dtype = dtype;
  R1_ASSIGN_OR_RETURN(c.bos_token_id, optional_id(json, "bos_token_id", where));
  R1_ASSIGN_OR_RETURN(c.pad_token_id, optional_id(json, "pad_token_id", where));
  R1_ASSIGN_OR_RETURN(c.eos_token_ids, token_id_list(json, "eos_token_id", where));
  return c;
}

Result<ModelConfig> ModelConfig::load(const std::string& dir) {
  std::string path = dir + "/config.json";
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(path));
  return from_json(doc, path);
}

std::string ModelConfig::to_json() const {
  static const char* kArchitectures[] = {"Qwen2ForCausalLM", "LlamaForCausalLM", "Qwen3ForCausalLM",
                                         "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"};
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
  auto key = [&](const char* k) { w.Key(k); };
  w.StartObject();
  bool classifier = head == ModelHead::sequence_classification;
  std::string architecture = kArchitectures[static_cast<int>(family)];
  if (classifier) architecture.replace(architecture.find("ForCausalLM"), 11, "ForSequenceClassification");
  key("architectures");
  w.StartArray();
  w.String(architecture.c_str());
  w.EndArray();
  if (classifier) {  // transformers reads num_labels from these
    key("id2label");
    w.StartObject();
    for (int64_t i = 0; i < num_labels; ++i) {
      key(std::to_string(i).c_str());
      w.String(("LABEL_" + std::to_string(i)).c_str());
    }
    w.EndObject();
    key("label2id");
    w.StartObject();
    for (int64_t i = 0; i < num_labels; ++i) {
      key(("LABEL_" + std::to_string(i)).c_str());
      w.Int64(i);
    }
    w.EndObject();
  }
  key("model_type"); w.String(model_family_name(family));
  key("vocab_size"); w.Int64(vocab_size);
  key("hidden_size"); w.Int64(hidden_size);
  key("intermediate_size"); w.Int64(intermediate_size);
  key("num_hidden_layers"); w.Int64(num_hidden_layers);
  key("num_attention_heads"); w.Int64(num_attention_heads);
  key("num_key_value_heads"); w.Int64(num_key_value_heads);
  key("head_dim"); w.Int64(head_dim);
  key("max_position_embeddings"); w.Int64(max_position_embeddings);
  key("rms_norm_eps"); w.Double(rms_norm_eps);
  key("hidden_act"); w.String("silu");
  key("initializer_range"); w.Double(initializer_range);
  key("tie_word_embeddings"); w.Bool(tie_word_embeddings);
  // Both spellings: transformers 5 reads rope_parameters, 4.x rope_theta/rope_scaling.
  auto write_rope = [&](bool with_theta) {
    w.StartObject();
    key("rope_type"); w.String(rope_scaling.type.c_str());
    if (with_theta) { key("rope_theta"); w.Double(rope_theta); }
    if (rope_scaling.type != "default") { key("factor"); w.Double(rope_scaling.factor); }
    if (rope_scaling.type == "llama3") {
      key("low_freq_factor"); w.Double(rope_scaling.low_freq_factor);
      key("high_freq_factor"); w.Double(rope_scaling.high_freq_factor);
      key("original_max_position_embeddings"); w.Int64(rope_scaling.original_max_position_embeddings);
    }
    if (rope_scaling.type == "yarn") write_yarn(w, rope_scaling);
    w.EndObject();
  };
  key("rope_theta"); w.Double(rope_theta);
  key("rope_parameters"); write_rope(true);
  if (rope_scaling.type != "default") { key("rope_scaling"); write_rope(false); }
  if (family != ModelFamily::qwen2) { key("attention_bias"); w.Bool(qkv_bias); }
  if (family == ModelFamily::llama) { key("mlp_bias"); w.Bool(mlp_bias); }
  if (family == ModelFamily::qwen2) { key("use_sliding_window"); w.Bool(false); }
  if (is_deepseek(family)) write_deepseek_fields(w, *this);
  key("dtype"); w.String(dtype.c_str());
  key("torch_dtype"); w.String(dtype.c_str());
  if (bos_token_id) { key("bos_token_id"); w.Int64(*bos_token_id); }
  if (pad_token_id) { key("pad_token_id"); w.Int64(*pad_token_id); }
  if (eos_token_ids.size() == 1) {
    key("eos_token_id"); w.Int64(eos_token_ids[0]);
  } else if (!eos_token_ids.empty()) {
    key("eos_token_id");
    w.StartArray();
    for (int64_t id : eos_token_ids) w.Int64(id);
    w.EndArray();
  }
  w.EndObject();
  return std::string(buffer.GetString()) + "\n";
}

Status ModelConfig::check_token_ids(const std::vector<int64_t>& ids, const std::string& where) const {
  for (int64_t id : ids)
    if (id < 0 || id >= vocab_size)
      return Status::error(where + ": token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                           std::to_string(vocab_size) + ")");
  return Status();
}

int64_t ModelConfig::num_parameters() const {
  if (is_deepseek(family)) return deepseek_num_parameters(*this);
  int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  int64_t attn = hidden_size * (q + 2 * kv) + q * hidden_size + (qkv_bias ? q + 2 * kv : 0) +
                 (o_bias ? hidden_size : 0) + (qk_norm ? 2 * head_dim : 0);
  int64_t mlp = 3 * hidden_size * intermediate_size + (mlp_bias ? 2 * intermediate_size + hidden_size : 0);
  int64_t layer = attn + mlp + 2 * hidden_size;
  int64_t embed = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return num_hidden_layers * layer + embed + hidden_size;
}

}  // namespace r1
