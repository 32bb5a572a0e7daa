// Rejection sampling (`r1 sample`): k completions per prompt from a model,
// scored by a reward spec, filtered by a chain, written as SFT rows that
// `r1 sft` trains a student on (the R1 paper's distillation data), with a
// report of what each filter removed.
#pragma once

#include <cstdio>

#include "distill/filter_chain.h"
#include "distill/sample_config.h"
#include "util/status.h"

namespace r1 {

// Generates, scores, filters and writes output_dir/samples.jsonl and
// output_dir/report.json (both atomically; nothing is written when any step
// fails). Progress lines go to `log` (nullptr for none).
Result<SampleReport> run_sample(const SampleConfig& config, std::FILE* log);

}  // namespace r1
