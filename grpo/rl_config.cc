#include "grpo/rl_config.h"

#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace {

constexpr const char* kJobKeys[] = {"preset",   "model_name_or_path", "output_dir", "dataset",
                                    "reward",   "chat_template",      "run_name",   "reward_workers"};

bool is_job_key(std::string_view key) {
  for (const char* k : kJobKeys)
    if (key == k) return true;
  return false;
}

// Sets one job key from a JSON value; `where` names the key's origin.
Status set_job_key(RLConfig& c, const std::string& key, const JsonValue& v, const std::string& where) {
  auto need_string = [&](std::string& out) {
    if (!v.IsString()) return Status::error(where + ": field '" + key + "' must be a string");
    out = v.GetString();
    return Status();
  };
  if (key == "preset") return need_string(c.preset);
  if (key == "model_name_or_path") return need_string(c.model_name_or_path);
  if (key == "output_dir") return need_string(c.output_dir);
  if (key == "chat_template") return need_string(c.chat_template);
  if (key == "run_name") return need_string(c.run_name);
  if (key == "reward_workers") {
    if (!v.IsInt64() || v.GetInt64() < 0)
      return Status::error(where + ": field 'reward_workers' must be an integer >= 0");
    c.reward_workers = v.GetInt64();
    return Status();
  }
  if (key == "dataset") {
    if (!v.IsString() && !v.IsObject())
      return Status::error(where + ": field 'dataset' must be a name, a .jsonl path or an object");
    c.dataset = json_to_string(v);
    return Status();
  }
  // reward
  if (!v.IsString() && !v.IsObject() && !v.IsArray())
    return Status::error(where + ": field 'reward' must be a reward spec (object or list) or a spec file path");
  c.reward = json_to_string(v);
  return Status();
}

Status validate(const RLConfig& c, const std::string& where) {
  for (auto [key, value] : {std::pair{"model_name_or_path", &c.model_name_or_path},
                            std::pair{"output_dir", &c.output_dir}, std::pair{"dataset", &c.dataset}})
    if (value->empty()) return Status::error(where + ": field '" + key + "' is required");
  const std::string& t = c.chat_template;
  if (!(t.empty() || t == "auto" || t == "chatml" || t == "llama3" || t == "r1_zero" || t == "none"))
    return Status::error(where + ": field 'chat_template' must be auto, chatml, llama3, r1_zero or none, got '" + t +
                         "'");
  return c.grpo.validate().with_context(where);
}

}  // namespace

Result<RLConfig> parse_rl_config(const std::string& text, const std::string& where,
                                 const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, where));
  if (!doc.IsObject()) return Status::error(where + ": the RL config must be a JSON object");
  RLConfig c;
  // The preset comes first whatever its position, so the file's keys win over it.
  if (doc.HasMember("preset")) R1_RETURN_IF_ERROR(set_job_key(c, "preset", doc["preset"], where));
  for (const std::string& o : overrides)
    if (o.rfind("preset=", 0) == 0) c.preset = o.substr(7);
  R1_ASSIGN_OR_RETURN(c.grpo, grpo_config_preset(c.preset));
  rapidjson::Document grpo_keys(rapidjson::kObjectType);
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
    std::string key = it->name.GetString();
    if (is_job_key(key)) {
      R1_RETURN_IF_ERROR(set_job_key(c, key, it->value, where));
    } else {
      grpo_keys.AddMember(rapidjson::Value(key.c_str(), grpo_keys.GetAllocator()),
                          rapidjson::Value(it->value, grpo_keys.GetAllocator()), grpo_keys.GetAllocator());
    }
  }
  R1_RETURN_IF_ERROR(c.grpo.apply_json(grpo_keys, where));
  for (const std::string& o : overrides) {
    size_t eq = o.find('=');
    std::string key = o.substr(0, eq);
    if (eq == std::string::npos || !is_job_key(key)) {
      R1_RETURN_IF_ERROR(c.grpo.apply_override(o));
      continue;
    }
    std::string value = o.substr(eq + 1);
    rapidjson::Document parsed;
    parsed.Parse(value.c_str(), value.size());
    if (parsed.HasParseError() || (!parsed.IsObject() && !parsed.IsArray() && !parsed.IsInt64()))
      parsed.SetString(value.c_str(), static_cast<rapidjson::SizeType>(value.size()), parsed.GetAllocator());
    R1_RETURN_IF_ERROR(set_job_key(c, key, parsed, "override '" + o + "'"));
  }
  R1_RETURN_IF_ERROR(validate(c, where));
  return c;
}

Result<RLConfig> load_rl_config(const std::string& path, const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_rl_config(text, path, overrides);
}

std::string RLConfig::to_json() const {
  JsonWriter w;
  w.begin_object();
  w.key("preset").value(preset).key("model_name_or_path").value(model_name_or_path);
  w.key("output_dir").value(output_dir).key("dataset").raw(dataset);
  w.key("reward");
  if (reward.empty()) w.null();
  else w.raw(reward);
  w.key("chat_template").value(chat_template).key("run_name").value(run_name);
  w.key("reward_workers").value(reward_workers);
  w.end_object();
  // One flat object, so the saved file loads back as a config.
  std::string job = w.str(), settings = grpo.to_json();
  return job.substr(0, job.size() - 1) + "," + settings.substr(1);
}

}  // namespace r1
