// Everything an `r1 rl` run reads before its first step, loaded and checked
// up front so that bad input fails before any training: the prompts
// (rendered and tokenized), their reference fields, the reward function, and
// the batch arithmetic of the config.
#pragma once

#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <vector>

#include "data/jsonl_dataset.h"
#include "data/prompt_set.h"
#include "grpo/rl_config.h"
#include "model/tokenizer.h"
#include "reward/reward_spec.h"
#include "util/status.h"

namespace r1 {

// How a run's completions are grouped into generations and optimizer steps
// (TRL's semantics, one process).
struct RLPlan {
  int64_t num_generations = 0;           // G
  int64_t prompts_per_generation = 0;    // generation_batch_size / G
  int64_t updates_per_pass = 0;          // optimizer steps per pass over a generation: steps_per_generation / GA
  int64_t steps_per_generation = 0;      // optimizer steps per generation: num_iterations × updates_per_pass
  int64_t total_steps = 0;               // max_steps, or epochs × generations per epoch × steps_per_generation
  bool off_policy = false;               // some updates use samples from older weights
};

Result<RLPlan> make_rl_plan(const GRPOConfig& config, int64_t dataset_size);

struct RLJob {
  Dataset dataset;
  PromptSet prompts;  // [example], tokens left-truncated to max_prompt_length
  std::optional<RewardFunction> reward;
  std::string reward_spec;                         // the spec's JSON text (for the run record)
  RLPlan plan;
};

// Loads the dataset, reward and prompts with `tokenizer`; errors name the
// config key, file and line.
Result<RLJob> load_rl_job(const RLConfig& config, const Tokenizer& tokenizer);

}  // namespace r1
