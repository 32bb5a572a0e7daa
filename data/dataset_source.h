// The one way a job config names its prompts, shared by `r1 rl`, `r1 eval`,
// `r1 sample` and recipes. A source is one of
//   "gsm8k"                        a built-in shared set (builtin_dataset_names())
//   "countdown" / "arithmetic"     a generated task with default options (train split)
//   "countdown:heldout"            ... of the held-out split
//   "path/to/rows.jsonl"           a JSONL file with the default field mapping
//   {"path": "rows.jsonl", ...}    a DatasetSpec object (docs/data.md)
//   {"task": "countdown", "split": "heldout", "n": 200, "seed": 1, ...}
//                                  a generated task with TaskOptions keys
#pragma once

#include <string>

#include "data/builtin_tasks.h"
#include "data/jsonl_dataset.h"
#include "util/json.h"
#include "util/status.h"

namespace r1 {

// Loads the source; `where` names the config key in errors
// ("rl.json: field 'dataset': ...").
Result<Dataset> load_dataset_source(const JsonValue& source, const std::string& where);

// The task options a generated-task object describes; unknown keys are errors.
Result<TaskOptions> parse_task_options(const JsonValue& object, const std::string& where);
// The object parse_task_options reads back as `options` (every key).
std::string task_options_json(const TaskOptions& options);

// The reward spec that scores a source's answers, as JSON text: one component
// named "accuracy" (countdown → countdown, humaneval → code with its
// humaneval format, gsm8k → gsm8k, anything else → math). Used when a config gives no reward.
std::string default_reward_spec(const Dataset& dataset);

}  // namespace r1
