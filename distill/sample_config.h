// Every setting of an `r1 sample` run (rejection sampling), parsed from one
// JSON object through one field table (util/config_fields.h); docs/distill.md
// has the table and `r1 sample --help-config` prints it. Unknown keys are
// errors that name the key; `--set key=value` overrides a key.
#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "model/compute_options.h"
#include "model/sampling_options.h"
#include "rollout/worker_options.h"
#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct SampleConfig {
  std::string model;  // HF folder of the teacher that samples (required)
  // JSON text of a dataset source (data/dataset_source.h): a built-in name,
  // "countdown" / "arithmetic[:heldout]", {"task": ..., "n": ..., "seed":
  // ...}, a .jsonl path, or a DatasetSpec object (required).
  std::string dataset;
  int64_t max_prompts = 0;      // the first N prompts only; 0: all
  std::string template_name;    // key "template": auto, chatml, llama3, r1_zero, none; "": the dataset's
  ComputeOptions compute;       // keys `device` and `dtype` ("auto" = the checkpoint's dtype)
  RolloutWorkerOptions rollout;  // keys rollout_workers, rollout_auth_key_file, rollout_timeout

  // Sampling.
  int64_t samples_per_prompt = 4;  // k
  double temperature = 0.6;        // the R1 paper's sampling settings
  double top_p = 0.95;
  int64_t top_k = 0;
  double min_p = 0.0;
  int64_t max_new_tokens = 1024;
  int64_t batch_size = 16;         // prompts per generate() call (each sampled k times)
  std::vector<std::string> stop;  // cut before the first (vLLM); key `stop`, as in eval (alias stop_strings)
  int64_t seed = 0;                // batch b samples with seed + b

  // Scoring and filtering.
  std::string reward;  // JSON text: a reward spec (object or list) or a spec file path; "": the dataset's default
  std::string filters; // JSON text: list of {"filter": name, ...params}; "": default_filter_chain_json()
  int64_t reward_workers = 0;  // threads for scoring; 0: one per core

  // Output.
  std::string output_dir;       // samples.jsonl, report.json, sample_config.json (required)
  bool save_rejected = false;   // also write rejected.jsonl with the filter that removed each sample

  SamplingOptions sampling_options() const {
    return {.temperature = temperature, .top_k = top_k, .top_p = top_p, .min_p = min_p};
  }
};

// The keys, their defaults and checks (the dataset's structure, filter
// names, the reward spec when given inline). No file is read.
const ConfigFields<SampleConfig>& sample_config_fields();

// Parses and validates a config object; `where` names it in errors.
Result<SampleConfig> parse_sample_config(const rapidjson::Value& obj, const std::string& where);

// Reads `path`, applies `overrides` ("key=value"; the value is parsed as JSON
// when it is valid JSON, else taken as a string), then parses.
Result<SampleConfig> load_sample_config(const std::string& path, const std::vector<std::string>& overrides);

// The config as a JSON object (written next to the outputs).
std::string sample_config_json(const SampleConfig& config);

}  // namespace r1
