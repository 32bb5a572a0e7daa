// The DeepSeek V2/V3 part of config.json: Multi-head Latent Attention,
// DeepSeekMoE routing and YaRN rope scaling, read and written with the keys
// and defaults of transformers' DeepseekV2Config / DeepseekV3Config.
#pragma once

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "model/config.h"
#include "util/json.h"
#include "util/status.h"

namespace r1 {

using ConfigJsonWriter = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

inline bool is_deepseek(ModelFamily family) {
  return family == ModelFamily::deepseek_v2 || family == ModelFamily::deepseek_v3;
}

// The MLA and MoE fields of a deepseek_v2/v3 config.json (c.family and
// c.max_position_embeddings already set); sets head_dim to the rope width.
// Errors name the field: an unknown scoring_func or topk_method, shapes that
// do not divide.
Status parse_deepseek_fields(const JsonValue& json, const std::string& where, ModelConfig& c);

// YaRN's keys of a rope_parameters / rope_scaling object (type and factor
// already read into c.rope_scaling).
Status parse_yarn(const JsonValue& scaling, const std::string& where, ModelConfig& c);

void write_deepseek_fields(ConfigJsonWriter& w, const ModelConfig& c);
void write_yarn(ConfigJsonWriter& w, const RopeScaling& r);

int64_t deepseek_num_parameters(const ModelConfig& c);

}  // namespace r1
