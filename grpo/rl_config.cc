#include "grpo/rl_config.h"

#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace {

bool is_dataset_source(const JsonValue& v) { return v.IsString() || v.IsObject(); }
bool is_reward_spec(const JsonValue& v) { return v.IsString() || v.IsObject() || v.IsArray(); }

Status validate(RLConfig& c) {
  R1_RETURN_IF_ERROR(check_field_rules(
      {{c.reward_workers >= 0, "reward_workers", ">= 0 (0 = one per core)", double(c.reward_workers)}}));
  R1_RETURN_IF_ERROR(check_rollout_worker_options(c.rollout));
  R1_RETURN_IF_ERROR(
      field_one_of("chat_template", c.chat_template, {"", "auto", "chatml", "llama3", "r1_zero", "none"}));
  return c.grpo.validate();
}

}  // namespace

const ConfigFields<RLConfig>& rl_config_fields() {
  using C = RLConfig;
  static const ConfigFields<C> fields =
      ConfigFields<C>("RL config", validate)
          .add("preset", &C::preset, "GRPO preset applied before the other keys: default, r1_zero, dapo, dr_grpo")
          .add("model_name_or_path", &C::model_name_or_path, "HF folder of the starting policy")
          .required()
          .add("output_dir", &C::output_dir, "checkpoints, model/, rollouts.db, metrics.jsonl")
          .required()
          .add_json("dataset", &C::dataset, "a name, a .jsonl path or an object",
                    "the prompts: a dataset name, a .jsonl path, a dataset spec or a task object (docs/data.md)",
                    is_dataset_source)
          .required()
          .add_json("reward", &C::reward, "a reward spec (object or list) or a spec file path",
                    "the rewards (docs/rewards.md); null = the dataset's default", is_reward_spec)
          .add("chat_template", &C::chat_template,
               "r1_zero, chatml, llama3, auto or none; \"\" = the dataset's template")
          .add("run_name", &C::run_name, "the run's name in the rollout store; \"\" = the output folder's name")
          .add("reward_workers", &C::reward_workers, "threads scoring rewards; 0 = one per core")
          .include(rollout_worker_options_fields(), &C::rollout)
          .include(grpo_config_fields(), &C::grpo);
  return fields;
}

Result<RLConfig> parse_rl_config(const std::string& text, const std::string& where,
                                 const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, where));
  if (!doc.IsObject()) return Status::error(where + ": the RL config must be a JSON object");
  RLConfig start;
  // The preset first, whatever its position, so the file's keys win over it;
  // an override "preset=..." wins over the file's.
  if (doc.HasMember("preset")) {
    rapidjson::Document only(rapidjson::kObjectType);
    only.AddMember("preset", rapidjson::Value(doc["preset"], only.GetAllocator()), only.GetAllocator());
    R1_RETURN_IF_ERROR(rl_config_fields().apply_json(start, only, where));
  }
  for (const std::string& o : overrides)
    if (o.rfind("preset=", 0) == 0) R1_RETURN_IF_ERROR(rl_config_fields().apply_override(start, o));
  R1_ASSIGN_OR_RETURN(start.grpo, grpo_config_preset(start.preset));
  return rl_config_fields().parse(doc, where, overrides, std::move(start));
}

Result<RLConfig> load_rl_config(const std::string& path, const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_rl_config(text, path, overrides);
}

std::string RLConfig::to_json() const { return rl_config_fields().to_json(*this); }

}  // namespace r1
