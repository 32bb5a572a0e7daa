#include "eval/eval_config.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "reward/reward_spec.h"
#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace {

using Setter = std::function<Status(EvalConfig&, const JsonValue&, const std::string& where)>;

Status must_be(const std::string& where, const std::string& key, const char* what) {
  return Status::error(where + ": key '" + key + "' must be " + what);
}

Setter string_field(std::string EvalConfig::*m, const std::string& key) {
  return [m, key](EvalConfig& c, const JsonValue& v, const std::string& where) {
    if (!v.IsString()) return must_be(where, key, "a string");
    c.*m = v.GetString();
    return Status();
  };
}

Setter int_field(int64_t EvalConfig::*m, const std::string& key) {
  return [m, key](EvalConfig& c, const JsonValue& v, const std::string& where) {
    if (!v.IsInt64()) return must_be(where, key, "an integer");
    c.*m = v.GetInt64();
    return Status();
  };
}

Setter optional_number_field(std::optional<double> EvalConfig::*m, const std::string& key) {
  return [m, key](EvalConfig& c, const JsonValue& v, const std::string& where) {
    if (v.IsNull()) return (c.*m).reset(), Status();
    if (!v.IsNumber()) return must_be(where, key, "a number or null");
    c.*m = v.GetDouble();
    return Status();
  };
}

Status set_dataset(EvalConfig& c, const JsonValue& v, const std::string& where) {
  c.dataset.clear();
  c.dataset_object.clear();
  if (v.IsString()) return c.dataset = v.GetString(), Status();
  if (!v.IsObject()) return must_be(where, "dataset", "a name, a .jsonl path, or a dataset spec or task object");
  c.dataset_object = json_to_string(v);
  return Status();
}

Status set_stop(EvalConfig& c, const JsonValue& v, const std::string& where) {
  if (v.IsNull()) return c.stop.reset(), Status();
  if (!v.IsArray()) return must_be(where, "stop", "an array of strings or null");
  std::vector<std::string> stop;
  for (const auto& s : v.GetArray()) {
    if (!s.IsString()) return must_be(where, "stop", "an array of strings or null");
    stop.emplace_back(s.GetString(), s.GetStringLength());
  }
  c.stop = std::move(stop);
  return Status();
}

// Inline specs are kept as text; a path is read now, so that the run records
// the spec it used rather than a file name that may change.
Status set_reward(EvalConfig& c, const JsonValue& v, const std::string& where) {
  if (v.IsNull()) return c.reward.clear(), Status();
  if (v.IsObject() || v.IsArray()) return c.reward = json_to_string(v), Status();
  if (!v.IsString()) return must_be(where, "reward", "a reward spec (object or list), a spec file path, or null");
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(v.GetString()));
  c.reward = json_to_string(doc);
  return Status();
}

const std::vector<std::pair<std::string, Setter>>& fields() {
  using C = EvalConfig;
  static const std::vector<std::pair<std::string, Setter>> table = {
      {"model", string_field(&C::model, "model")},
      {"dataset", set_dataset},
      {"limit", int_field(&C::limit, "limit")},
      {"samples", int_field(&C::samples, "samples")},
      {"temperature", optional_number_field(&C::temperature, "temperature")},
      {"top_p", optional_number_field(&C::top_p, "top_p")},
      {"top_k", int_field(&C::top_k, "top_k")},
      {"min_p", optional_number_field(&C::min_p, "min_p")},
      {"max_new_tokens", int_field(&C::max_new_tokens, "max_new_tokens")},
      {"template", string_field(&C::template_name, "template")},
      {"stop", set_stop},
      {"reward", set_reward},
      {"accuracy_component", string_field(&C::accuracy_component, "accuracy_component")},
      {"batch_size", int_field(&C::batch_size, "batch_size")},
      {"seed", int_field(&C::seed, "seed")},
      {"reward_workers", int_field(&C::reward_workers, "reward_workers")},
      {"dtype", string_field(&C::dtype, "dtype")},
      {"threads", int_field(&C::threads, "threads")},
      {"output_dir", string_field(&C::output_dir, "output_dir")},
      {"name", string_field(&C::name, "name")},
  };
  return table;
}

Status one_of(const std::string& key, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return Status();
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + (a.empty() ? std::string("\"\"") : a);
  return Status::error("key '" + key + "' must be one of " + list + ", got '" + value + "'");
}

template <typename T>
void optional_value(JsonWriter& w, const std::optional<T>& v) {
  if (v)
    w.value(*v);
  else
    w.null();
}

}  // namespace

std::vector<std::string> eval_config_keys() {
  std::vector<std::string> keys;
  for (const auto& [name, _] : fields()) keys.push_back(name);
  return keys;
}

Status validate_eval_config(const EvalConfig& c) {
  auto need = [](bool ok, const std::string& what) { return ok ? Status() : Status::error(what); };
  R1_RETURN_IF_ERROR(need(!c.model.empty(), "key 'model' is required (the model folder)"));
  R1_RETURN_IF_ERROR(need(!c.dataset.empty() || !c.dataset_object.empty(), "key 'dataset' is required"));
  R1_RETURN_IF_ERROR(need(c.dataset.empty() || c.dataset_object.empty(),
                          "key 'dataset' is either a name/path or an object, not both"));
  R1_RETURN_IF_ERROR(need(c.limit >= 0, "key 'limit' must be >= 0 (0 = all examples)"));
  R1_RETURN_IF_ERROR(need(c.samples >= 1, "key 'samples' must be >= 1"));
  double t = c.resolved_temperature(), p = c.resolved_top_p();
  R1_RETURN_IF_ERROR(need(t >= 0, "key 'temperature' must be >= 0 (0 = greedy)"));
  R1_RETURN_IF_ERROR(need(p > 0 && p <= 1, "key 'top_p' must be in (0, 1]"));
  R1_RETURN_IF_ERROR(need(c.top_k >= 0, "key 'top_k' must be >= 0"));
  double min_p = c.min_p.value_or(0.0);
  R1_RETURN_IF_ERROR(need(min_p >= 0 && min_p < 1, "key 'min_p' must be in [0, 1)"));
  R1_RETURN_IF_ERROR(need(c.max_new_tokens >= 1, "key 'max_new_tokens' must be >= 1"));
  R1_RETURN_IF_ERROR(need(c.batch_size >= 1, "key 'batch_size' must be >= 1"));
  R1_RETURN_IF_ERROR(need(c.seed >= 0, "key 'seed' must be >= 0"));
  R1_RETURN_IF_ERROR(need(c.reward_workers >= 0, "key 'reward_workers' must be >= 0 (0 = one per CPU)"));
  R1_RETURN_IF_ERROR(need(c.threads >= 0, "key 'threads' must be >= 0 (0 = all cores)"));
  R1_RETURN_IF_ERROR(one_of("template", c.template_name, {"", "auto", "chatml", "llama3", "r1_zero", "none"}));
  R1_RETURN_IF_ERROR(one_of("dtype", c.dtype, {"", "float32", "bfloat16", "float16"}));
  if (c.stop)
    for (const auto& s : *c.stop) R1_RETURN_IF_ERROR(need(!s.empty(), "key 'stop' must not hold an empty string"));
  if (!c.reward.empty()) {
    Result<RewardFunction> fn = RewardFunction::from_text(c.reward, "key 'reward'");
    if (!fn.ok()) return fn.status();
  }
  return Status();
}

Result<EvalConfig> parse_eval_config(const rapidjson::Value& obj, const std::string& where) {
  if (!obj.IsObject()) return Status::error(where + ": the eval config must be a JSON object");
  EvalConfig c;
  for (const auto& member : obj.GetObject()) {
    std::string key = member.name.GetString();
    const Setter* setter = nullptr;
    for (const auto& [name, s] : fields())
      if (name == key) setter = &s;
    if (!setter) {
      std::string known;
      for (const auto& k : eval_config_keys()) known += (known.empty() ? "" : ", ") + k;
      return Status::error(where + ": unknown key '" + key + "' (known: " + known + ")");
    }
    R1_RETURN_IF_ERROR((*setter)(c, member.value, where));
  }
  if (Status s = validate_eval_config(c); !s.ok()) return s.with_context(where);
  return c;
}

std::string eval_config_json(const EvalConfig& c) {
  JsonWriter w;
  w.begin_object().key("model").value(c.model).key("dataset");
  if (c.dataset_object.empty())
    w.value(c.dataset);
  else
    w.raw(c.dataset_object);
  w.key("limit").value(c.limit).key("samples").value(c.samples);
  w.key("temperature");
  optional_value(w, c.temperature);
  w.key("top_p");
  optional_value(w, c.top_p);
  w.key("top_k").value(c.top_k).key("min_p");
  optional_value(w, c.min_p);
  w.key("max_new_tokens").value(c.max_new_tokens);
  w.key("template").value(c.template_name).key("stop");
  if (c.stop)
    w.array(*c.stop);
  else
    w.null();
  w.key("reward");
  if (c.reward.empty())
    w.null();
  else
    w.raw(c.reward);
  w.key("accuracy_component").value(c.accuracy_component).key("batch_size").value(c.batch_size);
  w.key("seed").value(c.seed).key("reward_workers").value(c.reward_workers).key("dtype").value(c.dtype);
  w.key("threads").value(c.threads).key("output_dir").value(c.output_dir).key("name").value(c.name);
  w.end_object();
  return w.str();
}

}  // namespace r1
