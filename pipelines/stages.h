// What each stage type does when the pipeline runner calls it. Every type is
// a library call of its own folder, configured by the same JSON keys as its
// command (docs/pipelines.md has the table):
//   pretrain-toy  pipelines/pretrain_toy.h        (corpus + init + short SFT)
//   sft, distill  sft/sft_trainer.h run_sft        (distill: distill_alpha > 0)
//   rm            reward/reward_trainer.h run_reward_training
//   rl            grpo/trainer.h run_rl
//   sample        distill/rejection_sampling.h run_sample
//   eval          eval/eval_runner.h run_eval
#pragma once

#include <cstdio>
#include <ostream>
#include <set>
#include <string>

#include <rapidjson/document.h>

#include "util/status.h"

namespace r1 {

// Parses a stage's resolved config (references replaced, output_dir set)
// with its type's own parser; `where` names it in errors. Reads no file.
Status check_stage_config(const std::string& type, const rapidjson::Value& config, const std::string& where);

// Checks the inputs that must exist before the run starts — a model folder
// or data file the recipe names directly, a dataset (loaded), a task corpus
// (generated) — skipping the top-level keys in `from_stages`, whose values
// earlier stages produce.
Status check_stage_inputs(const std::string& type, const rapidjson::Value& config, const std::string& where,
                          const std::set<std::string>& from_stages);

// Runs the stage, resuming where its type can: pretrain-toy, sft, distill and rm
// continue from their last checkpoint, rl from its last checkpoint (or the
// start), sample and eval run again (their outputs are written atomically).
// Returns the stage's summary metrics as a JSON object (for .done and the
// report). Progress goes to `log`. Whatever the stage throws (a LibTorch
// c10::Error, say) comes back as an error starting with `where`.
Result<std::string> run_stage(const std::string& type, const rapidjson::Value& config, const std::string& where,
                              std::FILE* log);

// The config keys of a stage type, with defaults and help (nothing for an
// unknown type): `r1 pipeline --help-config`.
void print_stage_keys(const std::string& type, std::ostream& out);

// One line of a stage's metrics for the report table, e.g. "steps 40, reward
// 0.12 -> 0.45" (rl) or "pass@1 0.2350 on arithmetic:heldout (200)" (eval).
std::string format_stage_metrics(const std::string& type, const rapidjson::Value& metrics);

}  // namespace r1
