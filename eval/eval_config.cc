#include "eval/eval_config.h"

#include <utility>

#include "reward/reward_spec.h"
#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace {

Status must_be(const std::string& where, const std::string& key, const char* what) {
  return Status::error(where + ": field '" + key + "' must be " + what);
}

Status set_dataset(EvalConfig& c, const JsonValue& v, const std::string& where) {
  c.dataset.clear();
  c.dataset_object.clear();
  if (v.IsString()) return c.dataset = v.GetString(), Status();
  if (!v.IsObject()) return must_be(where, "dataset", "a name, a .jsonl path, or a dataset spec or task object");
  c.dataset_object = json_to_string(v);
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

void write_dataset(const EvalConfig& c, JsonWriter& w) {
  if (c.dataset_object.empty()) w.value(c.dataset);
  else w.raw(c.dataset_object);
}

void write_reward(const EvalConfig& c, JsonWriter& w) {
  if (c.reward.empty()) w.null();
  else w.raw(c.reward);
}

// The checks after the required keys.
Status check_values(const EvalConfig& c) {
  R1_RETURN_IF_ERROR(check_rollout_worker_options(c.rollout));
  if (!c.dataset.empty() && !c.dataset_object.empty())
    return field_error("dataset", "is either a name/path or an object, not both");
  R1_RETURN_IF_ERROR(check_field_rules({
      {c.limit >= 0, "limit", ">= 0 (0 = all examples)", double(c.limit)},
      {c.samples >= 1, "samples", ">= 1", double(c.samples)},
      {c.max_new_tokens >= 1, "max_new_tokens", ">= 1", double(c.max_new_tokens)},
      {c.batch_size >= 1, "batch_size", ">= 1", double(c.batch_size)},
      {c.seed >= 0, "seed", ">= 0", double(c.seed)},
      {c.reward_workers >= 0, "reward_workers", ">= 0 (0 = one per CPU)", double(c.reward_workers)},
      {c.threads >= 0, "threads", ">= 0 (0 = all cores)", double(c.threads)},
  }));
  R1_RETURN_IF_ERROR(c.sampling_options().validate());
  R1_RETURN_IF_ERROR(field_one_of("template", c.template_name, {"", "auto", "chatml", "llama3", "r1_zero", "none"}));
  if (c.stop) R1_RETURN_IF_ERROR(check_stop_strings(*c.stop, "stop"));
  if (!c.reward.empty()) R1_RETURN_IF_ERROR(RewardFunction::check_text(c.reward, "field 'reward'"));
  return Status();
}

}  // namespace

Status validate_eval_config(const EvalConfig& c) {
  R1_RETURN_IF_ERROR(eval_config_fields().check_required(c));
  return check_values(c);
}

const ConfigFields<EvalConfig>& eval_config_fields() {
  using C = EvalConfig;
  static const ConfigFields<C> fields =
      ConfigFields<C>("eval config", [](C& c) { return check_values(c); })
          .add("model", &C::model, "HF model folder with tokenizer.json")
          .required()
          .add("dataset", "a string or an object", set_dataset, write_dataset,
               "gsm8k_test, math500, aime24, amc23, humaneval, mbpp, countdown:heldout, ..., a .jsonl path, a "
               "dataset spec or a task object (docs/data.md)")
          .required()
          .add("limit", &C::limit, "the first N examples; 0 = all")
          .add("samples", &C::samples, "k completions per example")
          .add("temperature", &C::temperature, "null: 0 (greedy) for one sample, else 0.6 (DeepSeek-R1's setting)")
          .add("top_p", &C::top_p, "null: 1 for one sample, else 0.95")
          .add("top_k", &C::top_k, "0 = off")
          .add("min_p", &C::min_p,
               "drop tokens below min_p times the top token's probability, in [0, 1]; null or 0 = off")
          .add("max_new_tokens", &C::max_new_tokens, "tokens per completion at most")
          .add("template", &C::template_name, "auto, chatml, llama3, r1_zero or none; \"\" = the dataset's")
          .add("stop", &C::stop, "stop strings (the completion is cut before one, as vLLM does); null = the dataset's")
          .add("reward", "a reward spec (object or list), a spec file path, or null", set_reward, write_reward,
               "reward spec, or a spec file path (read now); null = the dataset's default")
          .add("accuracy_component", &C::accuracy_component,
               "the component whose score >= 1 makes a sample correct; \"\" = \"accuracy\", else the first")
          .add("batch_size", &C::batch_size, "examples per generation batch (each with k samples)")
          .add("seed", &C::seed, "sampling seed")
          .add("reward_workers", &C::reward_workers, "scoring threads; 0 = one per CPU")
          .include(compute_options_fields(), &C::compute)
          .include(rollout_worker_options_fields(), &C::rollout)
          .add("threads", &C::threads, "torch CPU threads; 0 = all cores")
          .add("output_dir", &C::output_dir, "eval.json and eval.db; \"\" = runs/eval-<dataset label>")
          .add("name", &C::name, "run name in eval.db; \"\" = \"eval <dataset label>\"");
  return fields;
}

Result<EvalConfig> parse_eval_config(const rapidjson::Value& obj, const std::string& where) {
  return eval_config_fields().parse(obj, where);
}

std::string eval_config_json(const EvalConfig& c) { return eval_config_fields().to_json(c); }

}  // namespace r1
