// Where `r1 sample` gets its prompts, resolved from the config's "dataset"
// value: a built-in dataset name, a generated task ("countdown",
// "arithmetic", or {"task": ..., "n": ..., "seed": ..., "split": ...}), a
// JSONL path, or a DatasetSpec object {"path": ..., "prompt_field": ...}.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "data/example.h"
#include "data/jsonl_dataset.h"
#include "util/json.h"
#include "util/status.h"

namespace r1 {

struct PromptSource {
  std::string name;           // the built-in name, task name or file stem
  std::string template_name;  // the dataset's template (r1_zero for tasks)
  std::vector<Example> examples;
  // The reward spec (JSON text) used when the config gives none; "" when the
  // dataset has no sensible default (a plain JSONL file).
  std::string default_reward;
};

// A DatasetSpec from a string (built-in name or existing JSONL path) or a
// spec object. Errors name `where`.
Result<DatasetSpec> dataset_spec_from_json(const JsonValue& value, const std::string& where);

// Checks the value without reading any file (for config validation).
Status check_prompt_source(const JsonValue& value, const std::string& where);

// Resolves and loads the prompts.
Result<PromptSource> load_prompt_source(const JsonValue& value, const std::string& where);

}  // namespace r1
