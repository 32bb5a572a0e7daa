// `r1 eval` as a library call: sample k completions per example, score them
// with the reward checkers, compute pass@1 / maj@k / pass@k, and write
// <output_dir>/eval.db (every sample, as a rollout store) and eval.json.
// Pipelines call run_eval directly. See docs/eval.md.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eval/eval_config.h"
#include "eval/eval_metrics.h"
#include "util/status.h"

namespace r1 {

struct EvalSummary {
  std::string model;
  std::string dataset;  // the label: "gsm8k_test", "countdown:heldout", a file stem
  std::string source;   // the file read, or "generated"
  int64_t total_examples = 0;  // in the dataset, before `limit`
  EvalMetrics metrics;         // examples evaluated, k, pass@1, pass@k, maj@k
  double mean_completion_tokens = 0.0;
  double truncated_fraction = 0.0;  // finish_reason "length"
  double reward_mean = 0.0;         // weighted total
  std::vector<std::pair<std::string, double>> component_means;  // spec order
  std::string accuracy_component;
  int64_t completion_tokens = 0;  // all samples
  double generation_seconds = 0.0;
  double scoring_seconds = 0.0;
  std::string output_dir;
  std::string resolved_config_json;  // the config as run: template, reward, stop, sampling filled in

  // eval.json: the fields above, flat, with "config" holding the resolved config.
  std::string to_json() const;
};

// Everything is validated and loaded (config, dataset, reward spec, model,
// tokenizer, prompts) before the first sample; outputs are written only once
// every sample is scored: eval.db via a temporary file renamed into place,
// then eval.json atomically. On error nothing is written. Progress lines go
// to `log` (null: silent).
Result<EvalSummary> run_eval(const EvalConfig& config, std::FILE* log);

}  // namespace r1
