// What `r1 eval` evaluates on: the examples the config's dataset source names
// (data/dataset_source.h, plus eval's "mbpp"), with the template, reward spec
// and stop strings that suit them unless the config overrides them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/example.h"
#include "eval/eval_config.h"
#include "util/status.h"

namespace r1 {

struct EvalDataset {
  std::string label;   // "gsm8k_test", "countdown:heldout", or the file stem
  std::string source;  // the file read, or "generated" for tasks
  std::vector<Example> examples;  // after `limit`
  int64_t total_examples = 0;     // before `limit`
  std::string template_name;      // the config's template, else the dataset's (may be "auto")
  std::string reward_spec;        // JSON text: the config's reward, else the dataset's default
  std::vector<std::string> stop;  // the config's stop strings, else the dataset's
};

// Loads and checks everything before a model is touched; errors name the
// file and line of a bad row, or list the known names.
Result<EvalDataset> load_eval_dataset(const EvalConfig& config);

// The Codex/HumanEval stop sequences: a completion of a function body ends
// where top-level code starts again.
const std::vector<std::string>& humaneval_stop_strings();

}  // namespace r1
