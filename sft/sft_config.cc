#include "sft/sft_config.h"

#include <utility>
#include <variant>

#include "train/lr_schedule.h"
#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace {

using Field = std::variant<std::string SFTConfig::*, double SFTConfig::*, int64_t SFTConfig::*, bool SFTConfig::*>;

// One row per key: the table drives parsing, unknown-key errors and output.
const std::vector<std::pair<std::string, Field>>& fields() {
  static const std::vector<std::pair<std::string, Field>> table = {
      {"model_name_or_path", &SFTConfig::model_name_or_path},
      {"train_file", &SFTConfig::train_file},
      {"eval_file", &SFTConfig::eval_file},
      {"output_dir", &SFTConfig::output_dir},
      {"chat_template", &SFTConfig::chat_template},
      {"dataset_text_field", &SFTConfig::dataset_text_field},
      {"dtype", &SFTConfig::dtype},
      {"learning_rate", &SFTConfig::learning_rate},
      {"num_train_epochs", &SFTConfig::num_train_epochs},
      {"max_steps", &SFTConfig::max_steps},
      {"per_device_train_batch_size", &SFTConfig::per_device_train_batch_size},
      {"per_device_eval_batch_size", &SFTConfig::per_device_eval_batch_size},
      {"gradient_accumulation_steps", &SFTConfig::gradient_accumulation_steps},
      {"lr_scheduler_type", &SFTConfig::lr_scheduler_type},
      {"min_lr_rate", &SFTConfig::min_lr_rate},
      {"warmup_ratio", &SFTConfig::warmup_ratio},
      {"warmup_steps", &SFTConfig::warmup_steps},
      {"weight_decay", &SFTConfig::weight_decay},
      {"adam_beta1", &SFTConfig::adam_beta1},
      {"adam_beta2", &SFTConfig::adam_beta2},
      {"adam_epsilon", &SFTConfig::adam_epsilon},
      {"max_grad_norm", &SFTConfig::max_grad_norm},
      {"max_length", &SFTConfig::max_length},
      {"packing", &SFTConfig::packing},
      {"completion_only_loss", &SFTConfig::completion_only_loss},
      {"add_eos", &SFTConfig::add_eos},
      {"teacher_model_name_or_path", &SFTConfig::teacher_model_name_or_path},
      {"distill_alpha", &SFTConfig::distill_alpha},
      {"distill_temperature", &SFTConfig::distill_temperature},
      {"logging_steps", &SFTConfig::logging_steps},
      {"eval_steps", &SFTConfig::eval_steps},
      {"save_steps", &SFTConfig::save_steps},
      {"save_total_limit", &SFTConfig::save_total_limit},
      {"seed", &SFTConfig::seed},
  };
  return table;
}

Status set_field(SFTConfig& c, const Field& field, const rapidjson::Value& v, const std::string& where,
                 const std::string& key) {
  auto bad = [&](const char* type) { return Status::error(where + ": key '" + key + "' must be " + type); };
  if (auto s = std::get_if<std::string SFTConfig::*>(&field)) {
    if (!v.IsString()) return bad("a string");
    c.**s = v.GetString();
  } else if (auto d = std::get_if<double SFTConfig::*>(&field)) {
    if (!v.IsNumber()) return bad("a number");
    c.**d = v.GetDouble();
  } else if (auto i = std::get_if<int64_t SFTConfig::*>(&field)) {
    if (!v.IsInt64()) return bad("an integer");
    c.**i = v.GetInt64();
  } else if (auto b = std::get_if<bool SFTConfig::*>(&field)) {
    if (!v.IsBool()) return bad("true or false");
    c.**b = v.GetBool();
  }
  return Status();
}

Status validate(const SFTConfig& c, const std::string& where) {
  auto need = [&](bool ok, const std::string& what) { return ok ? Status() : Status::error(where + ": " + what); };
  R1_RETURN_IF_ERROR(need(!c.model_name_or_path.empty(), "key 'model_name_or_path' is required"));
  R1_RETURN_IF_ERROR(need(!c.train_file.empty(), "key 'train_file' is required"));
  R1_RETURN_IF_ERROR(need(!c.output_dir.empty(), "key 'output_dir' is required"));
  R1_RETURN_IF_ERROR(need(c.learning_rate >= 0, "key 'learning_rate' must be >= 0"));
  R1_RETURN_IF_ERROR(need(c.max_steps > 0 || c.num_train_epochs > 0,
                          "one of 'max_steps' or 'num_train_epochs' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.per_device_train_batch_size > 0, "key 'per_device_train_batch_size' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.per_device_eval_batch_size > 0, "key 'per_device_eval_batch_size' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.gradient_accumulation_steps > 0, "key 'gradient_accumulation_steps' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.max_length > 1, "key 'max_length' must be > 1"));
  R1_RETURN_IF_ERROR(need(c.warmup_ratio >= 0 && c.warmup_ratio <= 1, "key 'warmup_ratio' must be in [0, 1]"));
  R1_RETURN_IF_ERROR(need(c.warmup_steps >= 0, "key 'warmup_steps' must be >= 0"));
  R1_RETURN_IF_ERROR(need(c.min_lr_rate >= 0 && c.min_lr_rate <= 1, "key 'min_lr_rate' must be in [0, 1]"));
  R1_RETURN_IF_ERROR(need(c.logging_steps > 0, "key 'logging_steps' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.eval_steps >= 0 && c.save_steps >= 0 && c.save_total_limit >= 0,
                          "keys 'eval_steps', 'save_steps', 'save_total_limit' must be >= 0"));
  R1_RETURN_IF_ERROR(need(c.dtype == "float32" || c.dtype == "bfloat16", "key 'dtype' must be float32 or bfloat16"));
  R1_RETURN_IF_ERROR(need(c.distill_alpha >= 0 && c.distill_alpha <= 1, "key 'distill_alpha' must be in [0, 1]"));
  R1_RETURN_IF_ERROR(need(c.distill_temperature > 0, "key 'distill_temperature' must be > 0"));
  R1_RETURN_IF_ERROR(need(c.distill_alpha == 0 || !c.teacher_model_name_or_path.empty(),
                          "key 'distill_alpha' > 0 needs 'teacher_model_name_or_path'"));
  const std::string& t = c.chat_template;
  R1_RETURN_IF_ERROR(need(t == "auto" || t == "chatml" || t == "llama3" || t == "r1_zero" || t == "none",
                          "key 'chat_template' must be auto, chatml, llama3, r1_zero or none"));
  auto sched = parse_lr_scheduler_type(c.lr_scheduler_type);
  if (!sched.ok()) return sched.status().with_context(where);
  return Status();
}

}  // namespace

Result<SFTConfig> parse_sft_config(const rapidjson::Value& obj, const std::string& where) {
  if (!obj.IsObject()) return Status::error(where + ": the SFT config must be a JSON object");
  SFTConfig c;
  for (const auto& member : obj.GetObject()) {
    std::string key = member.name.GetString();
    const Field* field = nullptr;
    for (const auto& [name, f] : fields())
      if (name == key) field = &f;
    if (!field) return Status::error(where + ": unknown key '" + key + "' (see docs/sft.md)");
    R1_RETURN_IF_ERROR(set_field(c, *field, member.value, where, key));
  }
  R1_RETURN_IF_ERROR(validate(c, where));
  return c;
}

Result<SFTConfig> load_sft_config(const std::string& path, const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(path));
  if (!doc.IsObject()) return Status::error(path + ": the SFT config must be a JSON object");
  for (const auto& o : overrides) R1_RETURN_IF_ERROR(apply_json_override(doc, o));
  return parse_sft_config(doc, overrides.empty() ? path : path + " (with --set)");
}

std::string sft_config_json(const SFTConfig& c) {
  JsonWriter w;
  w.begin_object();
  for (const auto& [name, field] : fields()) {
    w.key(name);
    std::visit([&](auto member) { w.value(c.*member); }, field);
  }
  w.end_object();
  return w.str();
}

}  // namespace r1
