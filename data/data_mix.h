// One JSONL file written from parts, for a trainer that takes one file but
// should see several kinds of rows: R1's stage-3 SFT mixes rejection-sampled
// reasoning traces with non-reasoning data, and a reward model trains on
// preference pairs generated from a built-in task. The `data` stage type of
// recipes runs it (docs/pipelines.md).
//
//   {"parts": ["runs/r1-tiny/rejection_sampling/samples.jsonl",
//              {"task": "arithmetic", "kind": "general", "n": 400, "form": "sft"}]}
//
// A part is a JSONL file, copied row by row (each must be a JSON object); a
// task object: TaskOptions keys plus "form" (rows, sft or preferences:
// task_rows_json); or a dataset object {"dataset": SOURCE, "fields": {...}}:
// any dataset source's examples as rows (id, prompt, system, the reference
// fields with the extracted answer) with `fields` set on each, e.g.
// {"dataset": "gsm8k", "fields": {"kind": "reasoning"}} for a reward spec to
// route on. Rows keep the order of the parts; trainers shuffle.
#pragma once

#include <string>
#include <vector>

#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct DataMixConfig {
  std::string parts;       // JSON array of parts (required, non-empty)
  std::string output_dir;  // data.jsonl is written here (the runner sets it)
};

const ConfigFields<DataMixConfig>& data_mix_config_fields();

// Checks before a run that each task part generates and, with
// `check_files` (false when earlier stages write some of them), that the
// files the parts name exist.
Status check_data_mix_inputs(const DataMixConfig& config, bool check_files);

struct DataMixSummary {
  std::string file;                 // <output_dir>/data.jsonl
  std::vector<int64_t> part_rows;   // rows each part gave, in order
  int64_t rows = 0;
};

// Writes <output_dir>/data.jsonl atomically. Errors name the part, and for
// files the file and line.
Result<DataMixSummary> run_data_mix(const DataMixConfig& config);

}  // namespace r1
