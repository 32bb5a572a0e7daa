#include "grpo/grpo_config.h"

#include <algorithm>
#include <cmath>

#include "train/ddp_options.h"
#include "train/report_to.h"

namespace r1 {
namespace {

// A `bf16` value written as the dtype it means (TRL's name for one dtype choice).
Status set_bf16(GRPOConfig& c, const JsonValue& v, const std::string& where) {
  if (!v.IsBool()) return field_value_error(v, "bf16", "true or false", where);
  c.compute.dtype = v.GetBool() ? "bfloat16" : "float32";
  return Status();
}

// ---- validation ----

Status check_ranges(const GRPOConfig& c) {
  double eh = c.epsilon_high.value_or(c.epsilon);
  return check_field_rules({
      {c.num_generations >= 2, "num_generations", ">= 2 (GRPO needs a group)", double(c.num_generations)},
      {c.beta >= 0, "beta", ">= 0", c.beta},
      {c.epsilon >= 0, "epsilon", ">= 0", c.epsilon},
      {eh >= 0, "epsilon_high", ">= 0", eh},
      {!c.delta || *c.delta > 1.0, "delta", "> 1 when set", c.delta.value_or(0)},
      {c.num_iterations >= 1, "num_iterations", ">= 1", double(c.num_iterations)},
      // The loss divides logits by it: no greedy sampling here.
      {c.temperature > 0, "temperature", "> 0", c.temperature},
      {c.max_prompt_length >= 1, "max_prompt_length", ">= 1", double(c.max_prompt_length)},
      {c.max_completion_length >= 1, "max_completion_length", ">= 1", double(c.max_completion_length)},
      {c.learning_rate >= 0, "learning_rate", ">= 0", c.learning_rate},
      {c.warmup_steps >= 0 && (c.warmup_steps < 1 || std::trunc(c.warmup_steps) == c.warmup_steps), "warmup_steps",
       "a ratio in [0, 1) or a whole number of steps", c.warmup_steps},
      {c.weight_decay >= 0, "weight_decay", ">= 0", c.weight_decay},
      {c.router_aux_loss_coef >= 0, "router_aux_loss_coef", ">= 0", c.router_aux_loss_coef},
      {c.adam_beta1 >= 0 && c.adam_beta1 < 1, "adam_beta1", "in [0, 1)", c.adam_beta1},
      {c.adam_beta2 >= 0 && c.adam_beta2 < 1, "adam_beta2", "in [0, 1)", c.adam_beta2},
      {c.adam_epsilon > 0, "adam_epsilon", "> 0", c.adam_epsilon},
      {c.max_grad_norm >= 0, "max_grad_norm", ">= 0", c.max_grad_norm},
      {c.per_device_train_batch_size >= 1, "per_device_train_batch_size", ">= 1",
       double(c.per_device_train_batch_size)},
      {c.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", ">= 1",
       double(c.gradient_accumulation_steps)},
      {c.max_steps == -1 || c.max_steps >= 1, "max_steps", "-1 or >= 1", double(c.max_steps)},
      {c.num_train_epochs > 0, "num_train_epochs", "> 0", c.num_train_epochs},
      {c.logging_steps >= 1, "logging_steps", ">= 1", double(c.logging_steps)},
      {c.save_steps >= 1, "save_steps", ">= 1", double(c.save_steps)},
      {!c.save_total_limit || *c.save_total_limit >= 1, "save_total_limit", ">= 1 when set",
       double(c.save_total_limit.value_or(0))},
      {c.ref_model_mixup_alpha >= 0 && c.ref_model_mixup_alpha <= 1, "ref_model_mixup_alpha", "in [0, 1]",
       c.ref_model_mixup_alpha},
      {c.ref_model_sync_steps >= 1, "ref_model_sync_steps", ">= 1", double(c.ref_model_sync_steps)},
      {c.max_num_gen_batches >= 0, "max_num_gen_batches", ">= 0", double(c.max_num_gen_batches)},
      {c.overlong_buffer_length >= 0 && c.overlong_buffer_length < c.max_completion_length, "overlong_buffer_length",
       "in [0, max_completion_length)", double(c.overlong_buffer_length)},
      {c.overlong_penalty_factor >= 0, "overlong_penalty_factor", ">= 0", c.overlong_penalty_factor},
      {c.max_staleness >= 0, "max_staleness", ">= 0", double(c.max_staleness)},
      {!c.importance_sampling_clip_min || *c.importance_sampling_clip_min >= 0, "importance_sampling_clip_min",
       ">= 0 when set", c.importance_sampling_clip_min.value_or(0)},
      {!c.importance_sampling_clip_max || *c.importance_sampling_clip_max > c.importance_sampling_clip_min.value_or(0),
       "importance_sampling_clip_max", "> importance_sampling_clip_min (or 0) when set",
       c.importance_sampling_clip_max.value_or(0)},
  });
}

Status check_choices(const GRPOConfig& c) {
  // Kept equal to the registries in policy_loss.cc / advantages.cc by a test.
  R1_RETURN_IF_ERROR(field_one_of("loss_type", c.loss_type, {"bnpo", "dapo", "dr_grpo", "grpo"}));
  R1_RETURN_IF_ERROR(field_one_of("scale_rewards", c.scale_rewards, {"group", "batch", "none"}));
  R1_RETURN_IF_ERROR(field_one_of("advantage_estimator", c.advantage_estimator, {"grpo", "rloo"}));
  R1_RETURN_IF_ERROR(field_one_of("importance_sampling_level", c.importance_sampling_level, {"token", "sequence"}));
  R1_RETURN_IF_ERROR(field_one_of("importance_sampling_mode", c.importance_sampling_mode,
                            {"token_truncate", "token_mask", "sequence_truncate", "sequence_mask"}));
  return field_one_of("lr_scheduler_type", c.lr_scheduler_type, {"linear", "cosine", "constant", "constant_with_warmup"});
}

Status check_batching(const GRPOConfig& c) {
  if (c.generation_batch_size && c.steps_per_generation)
    return field_error("generation_batch_size", "and 'steps_per_generation' cannot both be set");
  if (c.steps_per_generation && *c.steps_per_generation < 1)
    return field_error("steps_per_generation", "must be >= 1, got " + std::to_string(*c.steps_per_generation));
  if (c.generation_batch_size && (*c.generation_batch_size < 1 ||
                                  *c.generation_batch_size % c.per_device_train_batch_size != 0))
    return field_error("generation_batch_size", "must be a positive multiple of per_device_train_batch_size (" +
                                                    std::to_string(c.per_device_train_batch_size) + "), got " +
                                                    std::to_string(*c.generation_batch_size));
  if (c.resolved_generation_batch_size() % c.num_generations != 0)
    return field_error("generation_batch_size", "(" + std::to_string(c.resolved_generation_batch_size()) +
                                                    ") must be divisible by num_generations (" +
                                                    std::to_string(c.num_generations) + ")");
  return {};
}

// Off-policy samples need a trust region: an unclipped importance-weighted
// loss diverged at staleness 3 in a published ablation (tinker-cookbook #822).
Status check_async(const GRPOConfig& c) {
  if (!c.async_generation) {
    // These keys act only on generations sampled ahead; set without async
    // they would change nothing, so they are refused.
    GRPOConfig d;
    const char* idle = c.max_staleness != d.max_staleness ? "max_staleness"
                       : c.importance_sampling_correction != d.importance_sampling_correction
                           ? "importance_sampling_correction"
                       : c.importance_sampling_mode != d.importance_sampling_mode ? "importance_sampling_mode"
                       : c.importance_sampling_clip_min != d.importance_sampling_clip_min
                           ? "importance_sampling_clip_min"
                       : c.importance_sampling_clip_max != d.importance_sampling_clip_max
                           ? "importance_sampling_clip_max"
                           : nullptr;
    if (idle) return field_error(idle, "takes effect only with async_generation: true; set that too, or leave it out");
    return {};
  }
  double eh = c.epsilon_high.value_or(c.epsilon);
  if (!(c.epsilon > 0 && c.epsilon <= 1) || !(eh > 0 && eh <= 1))
    return field_error("async_generation", "needs a clipped loss: epsilon and epsilon_high in (0, 1], got " +
                                               format_number(c.epsilon) + " and " + format_number(eh));
  return {};
}

// The reverse-KL estimate needs samples from the current student and no
// other objective beside it.
Status check_distillation(const GRPOConfig& c) {
  if (c.teacher_model_name_or_path.empty()) return {};
  const char* conflict = c.beta != 0 ? "beta" : c.async_generation ? "async_generation"
                         : c.num_iterations != 1 ? "num_iterations" : nullptr;
  if (conflict)
    return field_error(conflict, "must be left at its default with teacher_model_name_or_path: on-policy distillation "
                                 "trains on the current student's samples against the teacher alone");
  return {};
}

}  // namespace

const ConfigFields<GRPOConfig>& grpo_config_fields() {
  using C = GRPOConfig;
  static const ConfigFields<C> fields =
      ConfigFields<C>("GRPO settings", [](C& c) { return c.validate(); })
          // GRPO algorithm
          .add("num_generations", &C::num_generations, "G completions per prompt (TRL 8; must be >= 2)")
          .add("beta", &C::beta, "k3 KL weight; 0 loads no reference model (TRL 0.0)")
          .add("epsilon", &C::epsilon, "lower clip epsilon (TRL 0.2)")
          .add("epsilon_high", &C::epsilon_high, "upper clip; null = epsilon (TRL None; DAPO 0.28)")
          .add("delta", &C::delta, "two-sided clipping cap on the ratio, > 1 (TRL None)")
          .add("loss_type", &C::loss_type, "grpo | bnpo | dr_grpo | dapo (TRL dapo)")
          .add("scale_rewards", &C::scale_rewards, "group | batch | none (TRL group)")
          .add("advantage_estimator", &C::advantage_estimator, "grpo | rloo (ours)")
          .add("importance_sampling_level", &C::importance_sampling_level, "token | sequence (TRL token)")
          .add("use_bias_correction_kl", &C::use_bias_correction_kl, "KL term times the importance ratio (TRL true)")
          .add("num_iterations", &C::num_iterations, "mu: passes over each generation batch (TRL 1)")
          .add("mask_truncated_completions", &C::mask_truncated_completions,
               "drop truncated completions from the loss (TRL false)")
          // on-policy distillation
          .add("teacher_model_name_or_path", &C::teacher_model_name_or_path,
               "on-policy distillation: the loss is the reverse KL to this teacher (same vocabulary) on the policy's "
               "own samples, in place of GRPO's; rewards are still scored and logged (TRL's name; \"\" = GRPO)")
          // mixture of experts
          .add("routing_replay", &C::routing_replay,
               "MoE policies: the learner's passes route each token to the experts the sampler chose (ours)")
          .add("router_aux_loss_coef", &C::router_aux_loss_coef,
               "MoE policies: weight of the router's load-balancing loss (TRL's name; DeepSeek configs declare none: "
               "0)")
          // asynchronous generation
          .add("async_generation", &C::async_generation,
               "sample the next generations while the learner trains on earlier ones (ours)")
          .add("max_staleness", &C::max_staleness,
               "most optimizer steps between a sample's policy and the update that uses it; 0 = synchronous "
               "(TRL AsyncGRPO 4)")
          .add("importance_sampling_correction", &C::importance_sampling_correction,
               "weight each token by pi_old / pi_sampling when they differ (TRL vllm_importance_sampling_correction)")
          .add("importance_sampling_mode", &C::importance_sampling_mode,
               "token_truncate | token_mask | sequence_truncate | sequence_mask (TRL vllm_importance_sampling_mode)")
          .add("importance_sampling_clip_min", &C::importance_sampling_clip_min,
               "lower bound C_min of the weight; null = none (TRL None)")
          .add("importance_sampling_clip_max", &C::importance_sampling_clip_max,
               "upper bound C_max of the weight; null = none (TRL 3.0)")
          // generation
          .add("temperature", &C::temperature, "sampling temperature, > 0 (TRL 1.0)")
          .add("top_p", &C::top_p, "nucleus mass in (0, 1] (TRL 1.0)")
          .add("top_k", &C::top_k, "0 = off (TRL 0)")
          .add("min_p", &C::min_p, "in [0, 1]; null = off (TRL None)")
          .add("max_prompt_length", &C::max_prompt_length, "prompt tokens kept, left-truncated (TRL 512)")
          .add("max_completion_length", &C::max_completion_length,
               "tokens per completion; also dr_grpo's constant (TRL 512)")
          .add("generation_batch_size", &C::generation_batch_size,
               "completions per generation; null = derived from steps_per_generation (TRL None)")
          .add("steps_per_generation", &C::steps_per_generation,
               "optimizer micro-steps per generation; null = gradient_accumulation_steps (TRL None)")
          // optimisation (transformers TrainingArguments names)
          .add("learning_rate", &C::learning_rate, "peak AdamW learning rate (TRL 1e-6)")
          .add("lr_scheduler_type", &C::lr_scheduler_type, "linear | cosine | constant | constant_with_warmup")
          .add("warmup_steps", &C::warmup_steps, "whole steps, or a ratio of max_steps when < 1")
          .add("weight_decay", &C::weight_decay, "AdamW decoupled weight decay")
          .add("adam_beta1", &C::adam_beta1, "AdamW beta1")
          .add("adam_beta2", &C::adam_beta2, "AdamW beta2")
          .add("adam_epsilon", &C::adam_epsilon, "AdamW epsilon")
          .add("max_grad_norm", &C::max_grad_norm, "gradient clipping norm; 0 = none")
          .add("per_device_train_batch_size", &C::per_device_train_batch_size, "completions per micro-batch")
          .add("gradient_accumulation_steps", &C::gradient_accumulation_steps, "micro-batches per optimizer step")
          .include(compute_options_fields(), &C::compute)
          .add_alias("bf16", "true or false", set_bf16,
                     "TRL's name for the dtype: true = dtype bfloat16 (weights in bf16, fp32 master copy), "
                     "false = float32; the later of bf16 and dtype wins")
          .add("gradient_checkpointing", &C::gradient_checkpointing,
               "keep only each layer's input and recompute the layer in the backward: the same gradients, less "
               "memory, one more forward (TRL true; ours false: small models on a CPU need the speed more)")
          // run control
          .add("seed", &C::seed, "seed of sampling and data order")
          .add("max_steps", &C::max_steps, "optimizer steps; -1 = num_train_epochs")
          .add("num_train_epochs", &C::num_train_epochs, "epochs over the prompts when max_steps is -1")
          .add("logging_steps", &C::logging_steps, "steps between progress lines (TRL 10)")
          .add("report_to", &C::report_to, kReportToHelp)
          .add("save_steps", &C::save_steps, "steps between checkpoints")
          .add("save_total_limit", &C::save_total_limit, "checkpoints kept; null = all")
          // data parallelism
          .include(ddp_option_fields(), &C::ddp)
          // reference model
          .add("sync_ref_model", &C::sync_ref_model, "refresh the reference model from the policy (TRL false)")
          .add("ref_model_mixup_alpha", &C::ref_model_mixup_alpha,
               "ref <- alpha * policy + (1 - alpha) * ref; 1 = replace (TRL 0.6)")
          .add("ref_model_sync_steps", &C::ref_model_sync_steps, "optimizer steps between refreshes (TRL 512)")
          // ours: DAPO dynamic sampling and overlong shaping
          .add("dynamic_sampling", &C::dynamic_sampling,
               "drop groups whose rewards are all equal and sample more prompts to refill (DAPO)")
          .add("max_num_gen_batches", &C::max_num_gen_batches, "refill rounds per step; 0 = unlimited (verl)")
          .add("overlong_buffer_length", &C::overlong_buffer_length,
               "soft overlong penalty over the last L tokens; 0 = off (DAPO)")
          .add("overlong_penalty_factor", &C::overlong_penalty_factor,
               "the penalty at max_completion_length (DAPO 1.0)");
  return fields;
}

Status GRPOConfig::validate() const {
  R1_RETURN_IF_ERROR(check_report_to(report_to));
  if (compute.dtype == "float16")
    return field_error("dtype", "must be auto, float32 or bfloat16 for training (float16 would need a loss scaler)");
  R1_RETURN_IF_ERROR(check_ranges(*this));
  R1_RETURN_IF_ERROR(sampling_options().validate());
  R1_RETURN_IF_ERROR(check_choices(*this));
  R1_RETURN_IF_ERROR(check_ddp_options(ddp));
  R1_RETURN_IF_ERROR(check_async(*this));
  R1_RETURN_IF_ERROR(check_distillation(*this));
  return check_batching(*this);
}

std::string GRPOConfig::to_json() const { return grpo_config_fields().to_json(*this); }

int64_t GRPOConfig::resolved_steps_per_generation() const {
  if (steps_per_generation) return *steps_per_generation;
  if (generation_batch_size) return *generation_batch_size / per_device_train_batch_size;
  return gradient_accumulation_steps;
}

int64_t GRPOConfig::resolved_generation_batch_size() const {
  if (generation_batch_size) return *generation_batch_size;
  return per_device_train_batch_size * resolved_steps_per_generation();
}

int64_t GRPOConfig::generation_lag(int64_t steps_per_generation) const {
  // Generation g + lag is sampled with the weights the learner has before
  // training generation g; its last update then lags by
  // (lag + 1) * steps_per_generation - 1 optimizer steps.
  if (!async_generation || steps_per_generation < 1) return 0;
  return std::max<int64_t>(0, (max_staleness + 1) / steps_per_generation - 1);
}

std::vector<std::string> grpo_config_keys() { return grpo_config_fields().keys(); }

Result<GRPOConfig> load_grpo_config(std::string_view preset, const std::string& json_path,
                                    const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(GRPOConfig config, grpo_config_preset(preset));
  const ConfigFields<GRPOConfig>& fields = grpo_config_fields();
  if (!json_path.empty()) {
    R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(json_path));
    R1_RETURN_IF_ERROR(fields.apply_json(config, doc, json_path));
  }
  for (const std::string& o : overrides) R1_RETURN_IF_ERROR(fields.apply_override(config, o));
  R1_RETURN_IF_ERROR(config.validate().with_context("GRPO config"));
  return config;
}

}  // namespace r1
