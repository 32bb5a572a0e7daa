#include "distill/sample_config.h"

#include "data/dataset_source.h"
#include "distill/sample_filter.h"
#include "model/chat_template.h"
#include "reward/reward_spec.h"
#include "util/json.h"

namespace r1 {

namespace {

// The checks below name the key; the field table puts the file in front.
Status check_filters(const std::string& text) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, "field 'filters'"));
  if (!doc.IsArray()) return field_error("filters", "must be a list of {\"filter\": name, ...}");
  for (rapidjson::SizeType i = 0; i < doc.Size(); ++i)
    R1_RETURN_IF_ERROR(check_sample_filter_entry(doc[i], "filters[" + std::to_string(i) + "]"));
  return Status();
}

// The dataset's structure; names and files are resolved by run_sample.
Status check_dataset(const std::string& text) {
  const std::string where = "field 'dataset'";
  R1_ASSIGN_OR_RETURN(rapidjson::Document v, parse_json(text, where));
  if (v.IsString()) return Status();
  if (!v.IsObject()) return Status::error(where + " must be a dataset name, a .jsonl path or an object (docs/data.md)");
  if (v.HasMember("task")) return parse_task_options(v, where).status();
  return parse_dataset_spec(v, where).status();
}

Status check_reward(const std::string& text) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, "field 'reward'"));
  if (doc.IsString()) return Status();  // a spec file, read by run_sample
  if (!doc.IsObject() && !doc.IsArray())
    return field_error("reward", "must be a reward spec (object or list) or a spec file path");
  return RewardFunction::check_json(doc, "reward");
}

Status validate(SampleConfig& c) {
  R1_RETURN_IF_ERROR(check_rollout_worker_options(c.rollout));
  R1_RETURN_IF_ERROR(check_field_rules({
      {c.max_prompts >= 0, "max_prompts", ">= 0 (0 = all)", double(c.max_prompts)},
      {c.samples_per_prompt >= 1, "samples_per_prompt", ">= 1", double(c.samples_per_prompt)},
      {c.max_new_tokens >= 1, "max_new_tokens", ">= 1", double(c.max_new_tokens)},
      {c.batch_size >= 1, "batch_size", ">= 1", double(c.batch_size)},
      {c.reward_workers >= 0, "reward_workers", ">= 0 (0 = one per CPU)", double(c.reward_workers)},
  }));
  R1_RETURN_IF_ERROR(c.sampling_options().validate());
  R1_RETURN_IF_ERROR(check_stop_strings(c.stop, "stop"));
  R1_RETURN_IF_ERROR(field_one_of("template", c.template_name, {"", "auto", "chatml", "llama3", "r1_zero", "none"}));
  R1_RETURN_IF_ERROR(check_dataset(c.dataset));
  if (!c.reward.empty()) R1_RETURN_IF_ERROR(check_reward(c.reward));
  if (!c.filters.empty()) R1_RETURN_IF_ERROR(check_filters(c.filters));
  return Status();
}

}  // namespace

const ConfigFields<SampleConfig>& sample_config_fields() {
  using C = SampleConfig;
  static const ConfigFields<C> fields =
      ConfigFields<C>("sample config", validate)
          .add("model", &C::model, "HF folder of the teacher that samples")
          .required()
          .add_json("dataset", &C::dataset, "a dataset source",
                    "a built-in name, countdown / arithmetic[:heldout], a task object, a .jsonl path or a dataset "
                    "spec (docs/data.md)")
          .required()
          .add("max_prompts", &C::max_prompts, "the first N prompts only; 0 = all")
          .add("template", &C::template_name, "auto, chatml, llama3, r1_zero or none; \"\" = the dataset's")
          .include(compute_options_fields(), &C::compute)
          .include(rollout_worker_options_fields(), &C::rollout)
          .add("samples_per_prompt", &C::samples_per_prompt, "k completions per prompt")
          .add("temperature", &C::temperature, "sampling temperature (the R1 paper's 0.6)")
          .add("top_p", &C::top_p, "nucleus mass in (0, 1] (the R1 paper's 0.95)")
          .add("top_k", &C::top_k, "0 = off")
          .add("min_p", &C::min_p, "drop tokens below min_p times the top token's probability, in [0, 1]; 0 = off")
          .add("max_new_tokens", &C::max_new_tokens, "tokens per completion at most")
          .add("batch_size", &C::batch_size, "prompts per generation batch (each sampled k times)")
          .add("stop", &C::stop, "generation stops after any of these and the completion is cut before it")
          .add_alias("stop_strings", &C::stop, "input-only alias of stop (the name transformers' generate uses)")
          .add("seed", &C::seed, "sampling seed")
          .add_json("reward", &C::reward, "a reward spec",
                    "reward spec (object or list) or a spec file path; null = the dataset's default")
          .add_json("filters", &C::filters, "a list of filters",
                    "[{\"filter\": name, ...params}, ...]; null = the default chain (docs/distill.md)")
          .add("reward_workers", &C::reward_workers, "scoring threads; 0 = one per core")
          .add("output_dir", &C::output_dir, "samples.jsonl, report.json, sample_config.json")
          .required()
          .add("save_rejected", &C::save_rejected, "also write rejected.jsonl with the filter that removed each");
  return fields;
}

Result<SampleConfig> parse_sample_config(const rapidjson::Value& obj, const std::string& where) {
  return sample_config_fields().parse(obj, where);
}

Result<SampleConfig> load_sample_config(const std::string& path, const std::vector<std::string>& overrides) {
  return sample_config_fields().load(path, overrides);
}

std::string sample_config_json(const SampleConfig& c) { return sample_config_fields().to_json(c); }

}  // namespace r1
