#include "rollout/rollout_types.h"

#include "util/json.h"

namespace r1 {

namespace {

void write_sampling(JsonWriter& w, const RolloutSampling& s) {
  w.begin_object();
  w.key("num_generations").value(s.num_generations).key("max_completion_length").value(s.max_completion_length);
  const SamplingOptions& o = s.options;
  w.key("temperature").value(o.temperature).key("top_k").value(o.top_k).key("top_p").value(o.top_p);
  w.key("min_p").value(o.min_p).key("stop_token_ids").array(s.stop_token_ids);
  w.key("stop_strings").array(s.stop_strings).key("seed").value(static_cast<int64_t>(s.seed));
  w.key("record_routes").value(s.record_routes);
  w.end_object();
}

Result<RolloutSampling> read_sampling(const JsonValue& v, const std::string& where) {
  RolloutSampling s;
  R1_ASSIGN_OR_RETURN(s.num_generations, json_int(v, "num_generations", where));
  R1_ASSIGN_OR_RETURN(s.max_completion_length, json_int(v, "max_completion_length", where));
  R1_ASSIGN_OR_RETURN(s.options.temperature, json_double(v, "temperature", where));
  R1_ASSIGN_OR_RETURN(s.options.top_k, json_int(v, "top_k", where));
  R1_ASSIGN_OR_RETURN(s.options.top_p, json_double(v, "top_p", where));
  R1_ASSIGN_OR_RETURN(s.options.min_p, json_double(v, "min_p", where));
  R1_ASSIGN_OR_RETURN(s.stop_token_ids, json_int_array(v, "stop_token_ids", where));
  R1_ASSIGN_OR_RETURN(s.stop_strings, json_string_array(v, "stop_strings", where));
  R1_ASSIGN_OR_RETURN(int64_t seed, json_int(v, "seed", where));
  s.seed = static_cast<uint64_t>(seed);
  R1_ASSIGN_OR_RETURN(s.record_routes, json_bool_or(v, "record_routes", false, where));
  return s;
}

Result<const JsonValue*> array_field(const JsonValue& v, const char* key, const std::string& where) {
  if (!v.IsObject() || !v.HasMember(key) || !v[key].IsArray())
    return Status::error(where + ": field '" + key + "' must be an array");
  return &v[key];
}

}  // namespace

std::string to_json(const RolloutRequest& r) {
  JsonWriter w;
  w.begin_object().key("step").value(r.step).key("policy_version").value(r.policy_version);
  w.key("sampling");
  write_sampling(w, r.sampling);
  w.key("prompts").begin_array();
  for (const auto& p : r.prompts)
    w.begin_object().key("prompt_index").value(p.prompt_index).key("prompt_ids").array(p.prompt_ids).end_object();
  w.end_array().end_object();
  return w.str();
}

std::string to_json(const RolloutResult& r) {
  JsonWriter w;
  w.begin_object().key("step").value(r.step).key("policy_version").value(r.policy_version);
  w.key("prefill_tokens").value(r.prefill_tokens).key("completion_tokens").value(r.completion_tokens);
  w.key("prefill_seconds").value(r.prefill_seconds).key("decode_seconds").value(r.decode_seconds);
  w.key("samples").begin_array();
  for (const auto& s : r.samples) {
    w.begin_object().key("prompt_index").value(s.prompt_index).key("sample_index").value(s.sample_index);
    w.key("token_ids").array(s.token_ids);
    w.key("logprobs").array(std::vector<double>(s.logprobs.begin(), s.logprobs.end()));
    w.key("finish_reason").value(s.finish_reason).key("completion").value(s.completion);
    w.key("generation_ms").value(s.generation_ms);
    if (!s.routed_experts.empty())
      w.key("routed_experts").array(std::vector<int64_t>(s.routed_experts.begin(), s.routed_experts.end()));
    if (!s.reward.components.empty()) {  // scored (the ranks of a data-parallel run exchange scored samples)
      w.key("reward").begin_object().key("total").value(s.reward.total).key("components").begin_array();
      for (const ComponentScore& c : s.reward.components)
        w.begin_object().key("name").value(c.name).key("weight").value(c.weight).key("score").value(c.score)
            .key("details").value(c.details).end_object();
      w.end_array().end_object();
    }
    w.end_object();
  }
  w.end_array().end_object();
  return w.str();
}

Result<RolloutRequest> rollout_request_from_json(const std::string& json, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(json, where));
  return rollout_request_from_json(doc, where);
}

Result<RolloutResult> rollout_result_from_json(const std::string& json, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(json, where));
  return rollout_result_from_json(doc, where);
}

Result<RolloutRequest> rollout_request_from_json(const JsonValue& doc, const std::string& where) {
  if (!doc.IsObject()) return Status::error(where + ": a rollout request must be a JSON object");
  RolloutRequest r;
  R1_ASSIGN_OR_RETURN(r.step, json_int(doc, "step", where));
  R1_ASSIGN_OR_RETURN(r.policy_version, json_int(doc, "policy_version", where));
  if (!doc.HasMember("sampling")) return Status::error(where + ": field 'sampling' is missing");
  R1_ASSIGN_OR_RETURN(r.sampling, read_sampling(doc["sampling"], where + ": sampling"));
  R1_ASSIGN_OR_RETURN(const JsonValue* prompts, array_field(doc, "prompts", where));
  for (const auto& p : prompts->GetArray()) {
    RolloutPrompt prompt;
    R1_ASSIGN_OR_RETURN(prompt.prompt_index, json_int(p, "prompt_index", where + ": prompts[]"));
    R1_ASSIGN_OR_RETURN(prompt.prompt_ids, json_int_array(p, "prompt_ids", where + ": prompts[]"));
    r.prompts.push_back(std::move(prompt));
  }
  return r;
}

Result<RolloutResult> rollout_result_from_json(const JsonValue& doc, const std::string& where) {
  if (!doc.IsObject()) return Status::error(where + ": a rollout result must be a JSON object");
  RolloutResult r;
  R1_ASSIGN_OR_RETURN(r.step, json_int(doc, "step", where));
  R1_ASSIGN_OR_RETURN(r.policy_version, json_int(doc, "policy_version", where));
  R1_ASSIGN_OR_RETURN(r.prefill_tokens, json_int(doc, "prefill_tokens", where));
  R1_ASSIGN_OR_RETURN(r.completion_tokens, json_int(doc, "completion_tokens", where));
  R1_ASSIGN_OR_RETURN(r.prefill_seconds, json_double(doc, "prefill_seconds", where));
  R1_ASSIGN_OR_RETURN(r.decode_seconds, json_double(doc, "decode_seconds", where));
  R1_ASSIGN_OR_RETURN(const JsonValue* samples, array_field(doc, "samples", where));
  for (const auto& s : samples->GetArray()) {
    std::string at = where + ": samples[]";
    // The JSON carries the step and version once per result; each sample
    // carries them here, as a local worker's do.
    Sample sample{.step = r.step, .policy_version = r.policy_version};
    R1_ASSIGN_OR_RETURN(sample.prompt_index, json_int(s, "prompt_index", at));
    R1_ASSIGN_OR_RETURN(sample.sample_index, json_int(s, "sample_index", at));
    R1_ASSIGN_OR_RETURN(sample.token_ids, json_int_array(s, "token_ids", at));
    R1_ASSIGN_OR_RETURN(sample.finish_reason, json_string(s, "finish_reason", at));
    R1_ASSIGN_OR_RETURN(sample.completion, json_string(s, "completion", at));
    R1_ASSIGN_OR_RETURN(sample.generation_ms, json_double(s, "generation_ms", at));
    R1_ASSIGN_OR_RETURN(const JsonValue* logprobs, array_field(s, "logprobs", at));
    for (const auto& lp : logprobs->GetArray()) {
      if (!lp.IsNumber()) return Status::error(at + ": field 'logprobs' must hold numbers");
      sample.logprobs.push_back(static_cast<float>(lp.GetDouble()));
    }
    if (sample.logprobs.size() != sample.token_ids.size())
      return Status::error(at + ": 'logprobs' and 'token_ids' differ in length");
    if (s.HasMember("routed_experts")) {
      R1_ASSIGN_OR_RETURN(std::vector<int64_t> routes, json_int_array(s, "routed_experts", at));
      for (int64_t e : routes)
        if (e < 0 || e > INT16_MAX)
          return Status::error(at + ": field 'routed_experts' holds " + std::to_string(e) +
                               "; expected expert indices in [0, 32767]");
      sample.routed_experts.assign(routes.begin(), routes.end());
    }
    if (s.HasMember("reward")) {
      const JsonValue& reward = s["reward"];
      if (!reward.IsObject()) return Status::error(at + ": field 'reward' must be an object");
      R1_ASSIGN_OR_RETURN(sample.reward.total, json_double(reward, "total", at + ".reward"));
      R1_ASSIGN_OR_RETURN(const JsonValue* components, array_field(reward, "components", at + ".reward"));
      for (const auto& c : components->GetArray()) {
        std::string cat = at + ".reward.components[]";
        ComponentScore score;
        R1_ASSIGN_OR_RETURN(score.name, json_string(c, "name", cat));
        R1_ASSIGN_OR_RETURN(score.weight, json_double(c, "weight", cat));
        R1_ASSIGN_OR_RETURN(score.score, json_double(c, "score", cat));
        R1_ASSIGN_OR_RETURN(score.details, json_string(c, "details", cat));
        sample.reward.components.push_back(std::move(score));
      }
    }
    r.samples.push_back(std::move(sample));
  }
  return r;
}

}  // namespace r1
