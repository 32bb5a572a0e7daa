#include "distill/sample_config.h"

#include <utility>
#include <variant>

#include "data/dataset_source.h"
#include "distill/sample_filter.h"
#include "model/chat_template.h"
#include "reward/reward_spec.h"
#include "util/json.h"

namespace r1 {

namespace {

// A key whose value is any JSON, kept as compact JSON text.
struct JsonText {
  std::string SampleConfig::*member;
};
using StringList = std::vector<std::string> SampleConfig::*;
using Field = std::variant<std::string SampleConfig::*, double SampleConfig::*, int64_t SampleConfig::*,
                           bool SampleConfig::*, StringList, JsonText>;

// One row per key: the table drives parsing, unknown-key errors and output.
const std::vector<std::pair<std::string, Field>>& fields() {
  static const std::vector<std::pair<std::string, Field>> table = {
      {"model", &SampleConfig::model},
      {"dataset", JsonText{&SampleConfig::dataset}},
      {"max_prompts", &SampleConfig::max_prompts},
      {"template", &SampleConfig::template_name},
      {"dtype", &SampleConfig::dtype},
      {"samples_per_prompt", &SampleConfig::samples_per_prompt},
      {"temperature", &SampleConfig::temperature},
      {"top_p", &SampleConfig::top_p},
      {"top_k", &SampleConfig::top_k},
      {"min_p", &SampleConfig::min_p},
      {"max_new_tokens", &SampleConfig::max_new_tokens},
      {"batch_size", &SampleConfig::batch_size},
      {"stop_strings", StringList{&SampleConfig::stop_strings}},
      {"seed", &SampleConfig::seed},
      {"reward", JsonText{&SampleConfig::reward}},
      {"filters", JsonText{&SampleConfig::filters}},
      {"reward_workers", &SampleConfig::reward_workers},
      {"output_dir", &SampleConfig::output_dir},
      {"save_rejected", &SampleConfig::save_rejected},
  };
  return table;
}

Status set_field(SampleConfig& c, const Field& field, const rapidjson::Value& v, const std::string& where,
                 const std::string& key) {
  auto bad = [&](const char* type) { return Status::error(where + ": key '" + key + "' must be " + type); };
  if (auto s = std::get_if<std::string SampleConfig::*>(&field)) {
    if (!v.IsString()) return bad("a string");
    c.**s = v.GetString();
  } else if (auto d = std::get_if<double SampleConfig::*>(&field)) {
    if (!v.IsNumber()) return bad("a number");
    c.**d = v.GetDouble();
  } else if (auto i = std::get_if<int64_t SampleConfig::*>(&field)) {
    if (!v.IsInt64()) return bad("an integer");
    c.**i = v.GetInt64();
  } else if (auto b = std::get_if<bool SampleConfig::*>(&field)) {
    if (!v.IsBool()) return bad("true or false");
    c.**b = v.GetBool();
  } else if (auto l = std::get_if<StringList>(&field)) {
    if (!v.IsArray()) return bad("a list of strings");
    std::vector<std::string> out;
    for (const auto& e : v.GetArray()) {
      if (!e.IsString()) return bad("a list of strings");
      out.push_back(e.GetString());
    }
    c.**l = std::move(out);
  } else if (auto j = std::get_if<JsonText>(&field)) {
    c.*(j->member) = v.IsNull() ? "" : json_to_string(v);
  }
  return Status();
}

Status check_filters(const std::string& text, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, where + ": key 'filters'"));
  if (!doc.IsArray()) return Status::error(where + ": key 'filters' must be a list of {\"filter\": name, ...}");
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i)
    R1_RETURN_IF_ERROR(check_sample_filter_entry(doc[i], where + ": filters[" + std::to_string(i) + "]"));
  return Status();
}

// The dataset's structure; names and files are resolved by run_sample.
Status check_dataset(const JsonValue& v, const std::string& where) {
  if (v.IsString()) return Status();
  if (!v.IsObject()) return Status::error(where + " must be a dataset name, a .jsonl path or an object (docs/data.md)");
  if (v.HasMember("task")) return parse_task_options(v, where).status();
  return parse_dataset_spec(v, where).status();
}

Status check_reward(const std::string& text, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, where + ": key 'reward'"));
  if (doc.IsString()) return Status();  // a spec file, read by run_sample
  if (!doc.IsObject() && !doc.IsArray())
    return Status::error(where + ": key 'reward' must be a reward spec (object or list) or a spec file path");
  return RewardFunction::from_json(doc, where + ": reward").status();
}

Status validate(const SampleConfig& c, const std::string& where) {
  auto need = [&](bool ok, const std::string& what) { return ok ? Status() : Status::error(where + ": " + what); };
  R1_RETURN_IF_ERROR(need(!c.model.empty(), "key 'model' is required"));
  R1_RETURN_IF_ERROR(need(!c.dataset.empty(), "key 'dataset' is required"));
  R1_RETURN_IF_ERROR(need(!c.output_dir.empty(), "key 'output_dir' is required"));
  R1_RETURN_IF_ERROR(need(c.max_prompts >= 0, "key 'max_prompts' must be >= 0"));
  R1_RETURN_IF_ERROR(need(c.samples_per_prompt > 0, "key 'samples_per_prompt' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.temperature >= 0, "key 'temperature' must be >= 0"));
  R1_RETURN_IF_ERROR(need(c.top_p > 0 && c.top_p <= 1, "key 'top_p' must be in (0, 1]"));
  R1_RETURN_IF_ERROR(need(c.top_k >= 0, "key 'top_k' must be >= 0"));
  R1_RETURN_IF_ERROR(need(c.min_p >= 0 && c.min_p < 1, "key 'min_p' must be in [0, 1)"));
  R1_RETURN_IF_ERROR(need(c.max_new_tokens > 0, "key 'max_new_tokens' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.batch_size > 0, "key 'batch_size' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.reward_workers >= 0, "key 'reward_workers' must be >= 0"));
  R1_RETURN_IF_ERROR(need(c.dtype == "auto" || c.dtype == "float32" || c.dtype == "bfloat16",
                          "key 'dtype' must be auto, float32 or bfloat16"));
  const std::string& t = c.template_name;
  R1_RETURN_IF_ERROR(need(t.empty() || t == "auto" || t == "chatml" || t == "llama3" || t == "r1_zero" || t == "none",
                          "key 'template' must be auto, chatml, llama3, r1_zero or none"));
  R1_ASSIGN_OR_RETURN(rapidjson::Document dataset, parse_json(c.dataset, where + ": key 'dataset'"));
  R1_RETURN_IF_ERROR(check_dataset(dataset, where + ": key 'dataset'"));
  if (!c.reward.empty()) R1_RETURN_IF_ERROR(check_reward(c.reward, where));
  if (!c.filters.empty()) R1_RETURN_IF_ERROR(check_filters(c.filters, where));
  return Status();
}


}  // namespace

Result<SampleConfig> parse_sample_config(const rapidjson::Value& obj, const std::string& where) {
  if (!obj.IsObject()) return Status::error(where + ": the sample config must be a JSON object");
  SampleConfig c;
  for (const auto& member : obj.GetObject()) {
    std::string key = member.name.GetString();
    const Field* field = nullptr;
    for (const auto& [name, f] : fields())
      if (name == key) field = &f;
    if (!field) return Status::error(where + ": unknown key '" + key + "' (see docs/distill.md)");
    R1_RETURN_IF_ERROR(set_field(c, *field, member.value, where, key));
  }
  R1_RETURN_IF_ERROR(validate(c, where));
  return c;
}

Result<SampleConfig> load_sample_config(const std::string& path, const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(path));
  if (!doc.IsObject()) return Status::error(path + ": the sample config must be a JSON object");
  for (const auto& o : overrides) R1_RETURN_IF_ERROR(apply_json_override(doc, o));
  return parse_sample_config(doc, overrides.empty() ? path : path + " (with --set)");
}

std::string sample_config_json(const SampleConfig& c) {
  JsonWriter w;
  w.begin_object();
  for (const auto& [name, field] : fields()) {
    w.key(name);
    if (auto j = std::get_if<JsonText>(&field)) {
      const std::string& text = c.*(j->member);
      if (text.empty())
        w.null();
      else
        w.raw(text);
    } else if (auto l = std::get_if<StringList>(&field)) {
      w.array(c.**l);
    } else {
      std::visit(
          [&](auto member) {
            if constexpr (std::is_same_v<decltype(member), std::string SampleConfig::*> ||
                          std::is_same_v<decltype(member), double SampleConfig::*> ||
                          std::is_same_v<decltype(member), int64_t SampleConfig::*> ||
                          std::is_same_v<decltype(member), bool SampleConfig::*>)
              w.value(c.*member);
          },
          field);
    }
  }
  w.end_object();
  return w.str();
}

}  // namespace r1
