// Named starting points for GRPOConfig. Each changes only what its paper
// changes; lengths and batch sizes are scaled to one GPU (docs/grpo.md).
#include <map>

#include "grpo/grpo_config.h"
#include "util/registry.h"

namespace r1 {
namespace {

// DeepSeek-R1-Zero (R1 paper): lr 3e-6, β 0.001, T 1.0, 16 samples × 32
// questions = 512 completions per optimizer step; each rollout of 16 such
// mini-batches is trained for one inner epoch; π_ref replaced every 400 steps.
GRPOConfig r1_zero() {
  GRPOConfig c;
  c.loss_type = "grpo";  // the paper's per-sequence mean
  c.scale_rewards = "group";
  c.beta = 0.001;
  c.learning_rate = 3e-6;
  c.lr_scheduler_type = "constant";
  c.temperature = 1.0;
  c.num_generations = 16;
  c.per_device_train_batch_size = 16;
  c.gradient_accumulation_steps = 32;  // 16 × 32 = 512 completions per step
  c.steps_per_generation = 16 * 32;    // 16 optimizer steps per rollout batch (8192 completions)
  c.num_iterations = 1;
  c.sync_ref_model = true;
  c.ref_model_mixup_alpha = 1.0;  // replace, not mix
  c.ref_model_sync_steps = 400;
  c.max_completion_length = 2048;  // paper: 32768
  return c;
}

// DAPO: clip-higher (0.2/0.28), token-level loss over the global batch,
// dynamic sampling, soft overlong punishment, no KL; lr 1e-6 with 10 warmup
// steps, weight decay 0.1; 512 prompts × 16 samples per rollout, trained as
// 16 optimizer steps of 512 completions.
GRPOConfig dapo() {
  GRPOConfig c;
  c.loss_type = "dapo";
  c.beta = 0.0;
  c.epsilon = 0.2;
  c.epsilon_high = 0.28;
  c.dynamic_sampling = true;
  c.num_generations = 16;
  c.per_device_train_batch_size = 16;
  c.gradient_accumulation_steps = 32;
  c.steps_per_generation = 16 * 32;
  c.learning_rate = 1e-6;
  c.lr_scheduler_type = "constant_with_warmup";
  c.warmup_steps = 10;
  c.weight_decay = 0.1;
  c.max_completion_length = 2048;  // paper: 20480 with a 4096 buffer
  c.overlong_buffer_length = 512;
  c.overlong_penalty_factor = 1.0;
  return c;
}

// Dr. GRPO: no std scaling, a constant length normaliser, no KL.
GRPOConfig dr_grpo() {
  GRPOConfig c;
  c.loss_type = "dr_grpo";
  c.scale_rewards = "none";
  c.beta = 0.0;
  c.learning_rate = 1e-6;
  c.lr_scheduler_type = "constant";
  c.num_generations = 8;
  c.max_completion_length = 2048;  // paper: 3000
  return c;
}

using PresetFn = GRPOConfig (*)();

const Registry<PresetFn>& presets() {
  static const Registry<PresetFn> table = {
      {"default", [] { return GRPOConfig{}; }}, {"r1_zero", r1_zero}, {"dapo", dapo}, {"dr_grpo", dr_grpo}};
  return table;
}

}  // namespace

Result<GRPOConfig> grpo_config_preset(std::string_view name) {
  R1_ASSIGN_OR_RETURN(PresetFn make, registry_lookup(presets(), name, "GRPO preset"));
  return make();
}

std::vector<std::string> grpo_config_preset_names() { return registry_names(presets()); }

}  // namespace r1
