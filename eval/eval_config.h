// Every setting of `r1 eval`, parsed from one JSON object (a --config file,
// then the CLI flags, then --set overrides) through one field table
// (util/config_fields.h). docs/eval.md has the table and `r1 eval
// --help-config` prints it; unknown keys and mistyped values are errors that
// name the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "model/compute_options.h"
#include "model/sampling_options.h"
#include "rollout/worker_options.h"
#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct EvalConfig {
  std::string model;  // HF model folder with tokenizer.json (required)
  // What to evaluate (one of the two is required), named as every job names
  // prompts (data/dataset_source.h): a built-in set (gsm8k_test, math500,
  // humaneval, ...), a task "countdown:heldout", a .jsonl file, or "mbpp"
  // (eval's own: the test split with its tests in the prompt) ...
  std::string dataset;
  // ... or a source object as JSON text: a DatasetSpec {"path": ..., field
  // mapping} or a task {"task": "countdown", "split": "heldout", "n": 200, ...}.
  std::string dataset_object;
  int64_t limit = 0;    // the first N examples; 0 = all
  int64_t samples = 1;  // k completions per example

  // Sampling. Unset: greedy (temperature 0, top_p 1) for one sample, else
  // DeepSeek-R1's evaluation setting (temperature 0.6, top_p 0.95).
  std::optional<double> temperature;
  std::optional<double> top_p;
  int64_t top_k = 0;  // 0 = off
  std::optional<double> min_p;  // drop tokens below min_p x the top probability; null or 0 = off
  int64_t max_new_tokens = 512;
  // "" keeps the dataset's template; auto (detect from the tokenizer),
  // chatml, llama3, r1_zero or none.
  std::string template_name;
  // Generation stops after any of these, and the completion is cut before
  // it (as vLLM returns it). Unset: the dataset's (HumanEval: Codex's stops).
  std::optional<std::vector<std::string>> stop;

  // Reward spec JSON text (reward/reward_spec.h); "" = the dataset's default.
  std::string reward;
  // The component whose score >= 1 makes a sample correct; "" = the one
  // named "accuracy", else the first.
  std::string accuracy_component;

  int64_t batch_size = 8;      // examples per generate() call (each with k samples)
  int64_t seed = 0;
  int64_t reward_workers = 0;  // scoring threads; 0 = one per CPU
  ComputeOptions compute;      // keys `device` and `dtype` ("auto" = the checkpoint's dtype)
  RolloutWorkerOptions rollout;  // keys rollout_workers, rollout_auth_key_file, rollout_timeout
  int64_t threads = 0;         // torch CPU threads; 0 = all cores
  std::string output_dir;      // "" = runs/eval-<dataset label>
  std::string name;            // run name in eval.db; "" = "eval <dataset label>"

  double resolved_temperature() const { return temperature.value_or(samples > 1 ? 0.6 : 0.0); }
  double resolved_top_p() const { return top_p.value_or(samples > 1 ? 0.95 : 1.0); }
  SamplingOptions sampling_options() const {
    return {
        .temperature = resolved_temperature(), .top_k = top_k, .top_p = resolved_top_p(), .min_p = min_p.value_or(0.0)};
  }
};

// The keys, their defaults and checks. A string `reward` is a spec file
// path: it is read when the key is and kept as its JSON text.
const ConfigFields<EvalConfig>& eval_config_fields();

// Parses and validates a config object; `where` names it in errors.
Result<EvalConfig> parse_eval_config(const rapidjson::Value& obj, const std::string& where);

// The required keys, values and combinations (what parsing checks, for a
// config built in code); errors name the key.
Status validate_eval_config(const EvalConfig& config);

// The config as one JSON object (stored in eval.db's run_info and eval.json).
std::string eval_config_json(const EvalConfig& config);

}  // namespace r1
