// Every setting of a GRPO run, named as in TRL 1.16's GRPOConfig (and
// transformers' TrainingArguments) where one exists; "ours" marks the rest.
// Loaded as preset → JSON object → `key=value` overrides through one field
// table (util/config_fields.h), with errors that name the key; `r1 rl
// --help-config` prints it. No tensors here (no LibTorch dependency).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/compute_options.h"
#include "model/sampling_options.h"
#include "train/ddp_options.h"
#include "util/config_fields.h"
#include "util/json.h"
#include "util/status.h"

namespace r1 {

struct GRPOConfig {
  // --- GRPO algorithm ---
  int64_t num_generations = 8;           // G completions per prompt (TRL 8; must be >= 2)
  double beta = 0.0;                     // k3 KL weight; 0 ⇒ no reference model (TRL 0.0)
  double epsilon = 0.2;                  // lower clip ε (TRL 0.2)
  std::optional<double> epsilon_high;    // upper clip; null ⇒ epsilon (TRL None; DAPO 0.28)
  std::optional<double> delta;           // two-sided clipping cap on the ratio (TRL None)
  std::string loss_type = "dapo";        // grpo | bnpo | dr_grpo | dapo (TRL "dapo")
  std::string scale_rewards = "group";   // group | batch | none (TRL "group")
  std::string advantage_estimator = "grpo";  // grpo | rloo (ours)
  std::string importance_sampling_level = "token";  // token | sequence (TRL "token")
  bool use_bias_correction_kl = true;    // KL term × importance ratio (TRL True)
  int64_t num_iterations = 1;            // μ passes over each generation batch (TRL 1)
  bool mask_truncated_completions = false;  // drop truncated completions from the loss (TRL False)
  // --- on-policy distillation (distill/chunked_kl.h, KlDirection::reverse) ---
  std::string teacher_model_name_or_path;  // "": GRPO; else the loss is the reverse KL to this teacher (TRL's name)
  // --- mixture of experts (DeepSeekMoE policies; grpo/moe_routing.h) ---
  bool routing_replay = false;           // the learner routes each token as the sampler did (ours)
  double router_aux_loss_coef = 0.0;     // load-balancing loss weight (TRL None = the model config's: 0 for DeepSeek)
  // --- asynchronous generation (docs/grpo.md, "Asynchronous generation") ---
  bool async_generation = false;         // sample the next generations while the learner trains (ours)
  int64_t max_staleness = 1;             // most optimizer steps a sample's policy may lag (TRL AsyncGRPO 4)
  // Correction for the sampling policy differing from the learner's π_old
  // (TRL's vllm_importance_sampling_* keys without "vllm_"; they take effect
  // only when π_old is not the sampling policy, i.e. async with lag).
  bool importance_sampling_correction = true;  // (TRL True)
  // token_truncate | token_mask | sequence_truncate | sequence_mask
  std::string importance_sampling_mode = "token_truncate";
  std::optional<double> importance_sampling_clip_min;       // C_min; null = none (TRL None)
  std::optional<double> importance_sampling_clip_max = 3.0; // C_max; null = none (TRL 3.0)
  // --- generation ---
  double temperature = 1.0;              // (TRL 1.0)
  double top_p = 1.0;                    // in (0, 1] (TRL 1.0)
  int64_t top_k = 0;                     // 0 = off (TRL 0)
  std::optional<double> min_p;           // in [0, 1] (TRL None)
  int64_t max_prompt_length = 512;       // prompt tokens kept, left-truncated (TRL < 1.0: 512)
  int64_t max_completion_length = 512;   // (TRL 512); also dr_grpo's constant
  std::optional<int64_t> generation_batch_size;  // completions per generation (TRL None ⇒ derived)
  std::optional<int64_t> steps_per_generation;   // micro-steps per generation (TRL None ⇒ grad. accum.)
  // --- optimisation (transformers TrainingArguments names) ---
  double learning_rate = 1e-6;           // (TRL 1e-6)
  std::string lr_scheduler_type = "linear";  // linear | cosine | constant | constant_with_warmup ("linear")
  double warmup_steps = 0.0;             // integer steps, or a ratio of max_steps when < 1 (0)
  double weight_decay = 0.0;             // AdamW decoupled decay (0.0)
  double adam_beta1 = 0.9;               // (0.9)
  double adam_beta2 = 0.999;             // (0.999)
  double adam_epsilon = 1e-8;            // (1e-8)
  double max_grad_norm = 1.0;            // 0 = no clipping (1.0)
  int64_t per_device_train_batch_size = 8;  // completions per micro-batch (8)
  int64_t gradient_accumulation_steps = 1;  // micro-batches per optimizer step (1)
  // Keys `device` and `dtype` ("auto" = bfloat16 here: bf16 weights with an
  // fp32 master copy, as TRL's bf16=True); TRL's `bf16` key is an alias of dtype.
  ComputeOptions compute;
  bool gradient_checkpointing = false;   // recompute each layer in the backward (TRL True: see docs/grpo.md)
  // --- run control ---
  int64_t seed = 42;                     // (42)
  int64_t max_steps = -1;                // optimizer steps; -1 ⇒ num_train_epochs (-1)
  double num_train_epochs = 3.0;         // used when max_steps == -1 (3.0)
  int64_t logging_steps = 10;            // (TRL 10)
  std::vector<std::string> report_to;    // "tensorboard" adds event files in <output_dir>/runs (TRL's key)
  int64_t save_steps = 500;              // (500)
  // --- data parallelism (several ranks: torchrun, srun or RANK/WORLD_SIZE) ---
  DdpOptions ddp;                        // the ddp_* keys (train/ddp_options.h)
  std::optional<int64_t> save_total_limit;  // checkpoints kept; null = all (None)
  // --- reference model ---
  bool sync_ref_model = false;           // refresh π_ref from π_θ periodically (TRL False)
  double ref_model_mixup_alpha = 0.6;    // π_ref ← α π_θ + (1-α) π_ref; 1 = replace (TRL 0.6)
  int64_t ref_model_sync_steps = 512;    // optimizer steps between refreshes (TRL 512)
  // --- ours: DAPO dynamic sampling and overlong shaping ---
  bool dynamic_sampling = false;         // drop zero-std groups and sample more prompts to refill
  int64_t max_num_gen_batches = 10;      // refill rounds per step before giving up; 0 = unlimited (verl)
  int64_t overlong_buffer_length = 0;    // soft overlong penalty over the last L tokens; 0 = off
  double overlong_penalty_factor = 1.0;  // penalty at max_completion_length (DAPO 1.0)

  // Checks values and their combinations; errors name the key.
  Status validate() const;
  // All keys, in table order, as one JSON object.
  std::string to_json() const;

  // temperature, top_k, top_p and min_p (null = 0) as the sampler takes them.
  SamplingOptions sampling_options() const {
    return {.temperature = temperature, .top_k = top_k, .top_p = top_p, .min_p = min_p.value_or(0.0)};
  }
  // TRL's derivation (one process): defaults to one generation per optimizer step.
  int64_t resolved_steps_per_generation() const;
  int64_t resolved_generation_batch_size() const;
  // How many generations sampling runs ahead of the learner: the largest lag
  // that keeps every update's staleness within max_staleness (0 = sync).
  int64_t generation_lag(int64_t steps_per_generation) const;
};

// "default" (TRL defaults), "r1_zero", "dapo", "dr_grpo": see docs/grpo.md.
Result<GRPOConfig> grpo_config_preset(std::string_view name);
std::vector<std::string> grpo_config_preset_names();
std::vector<std::string> grpo_config_keys();

// The keys of GRPOConfig (validate() is its check); RLConfig includes them.
const ConfigFields<GRPOConfig>& grpo_config_fields();

// preset, then the JSON file at json_path (skipped when empty), then the
// overrides in order; the result is validated.
Result<GRPOConfig> load_grpo_config(std::string_view preset, const std::string& json_path,
                                    const std::vector<std::string>& overrides);

}  // namespace r1
