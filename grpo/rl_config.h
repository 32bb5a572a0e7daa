// The config of one `r1 rl` job: the GRPO settings (GRPOConfig, TRL names)
// plus what the job runs on. One flat JSON object, e.g.
//   {"preset": "r1_zero", "model_name_or_path": "base/", "output_dir": "run/",
//    "dataset": "countdown", "reward": {"rewards": [...]}, "num_generations": 8}
// Keys are job keys (below) or GRPOConfig keys (device and dtype among them);
// anything else is an error naming the key. `r1 rl --help-config` prints
// them all; docs/grpo.md has the table.
#pragma once

#include <string>
#include <vector>

#include "grpo/grpo_config.h"
#include "rollout/worker_options.h"
#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct RLConfig {
  std::string preset = "default";  // GRPOConfig preset applied before the file's keys
  std::string model_name_or_path;  // HF folder of the starting policy (required)
  std::string output_dir;          // checkpoints, model/, rollouts.db, metrics.jsonl (required)
  std::string dataset;             // JSON text of a dataset source (data/dataset_source.h) (required)
  std::string reward;  // JSON text: a reward spec, or a string naming a spec file; "" = the dataset's default
  std::string chat_template;       // "" = the dataset's template; r1_zero, chatml, llama3, auto or none
  std::string run_name;            // shown in the rollout store; "" = the output folder's name
  int64_t reward_workers = 0;      // threads scoring rewards; 0 = one per core
  // rollout_workers, rollout_auth_key_file, rollout_timeout: sample on
  // `r1 rollout serve` workers, each pushed the policy at every step.
  RolloutWorkerOptions rollout;
  GRPOConfig grpo;

  // The whole config as one flat JSON object that loads back as a config
  // (saved as output_dir/rl_config.json).
  std::string to_json() const;
};

// The job keys and GRPOConfig's, in one flat table.
const ConfigFields<RLConfig>& rl_config_fields();

// Preset (the file's "preset" key, or an override "preset=..."), then the
// file's keys, then "key=value" overrides in order; validated.
Result<RLConfig> load_rl_config(const std::string& path, const std::vector<std::string>& overrides);
// As above from JSON text; `where` names it in errors.
Result<RLConfig> parse_rl_config(const std::string& text, const std::string& where,
                                 const std::vector<std::string>& overrides = {});

}  // namespace r1
