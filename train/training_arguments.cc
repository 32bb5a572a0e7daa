#include "train/training_arguments.h"

#include "train/ddp_options.h"
#include "train/lr_schedule.h"
#include "train/process_group.h"
#include "train/report_to.h"

namespace r1 {

const ConfigFields<TrainingArguments>& training_arguments_fields() {
  using C = TrainingArguments;
  static const ConfigFields<C> fields =
      ConfigFields<C>("training arguments")
          // model and data
          .add("model_name_or_path", &C::model_name_or_path, "HF folder to start from")
          .required()
          .add("train_file", &C::train_file, "training JSONL (the command's docs give the row forms)")
          .required()
          .add("eval_file", &C::eval_file, "held-out JSONL in the same forms; \"\" for none")
          .add("output_dir", &C::output_dir,
               "checkpoints, the final model in <output_dir>/model, metrics.jsonl")
          .required()
          .include(compute_options_fields(), &C::compute)
          // optimisation
          .add("learning_rate", &C::learning_rate, "peak AdamW learning rate")
          .add("num_train_epochs", &C::num_train_epochs, "epochs, when max_steps is not > 0")
          .add("max_steps", &C::max_steps, "optimizer steps; > 0 overrides num_train_epochs")
          .add("per_device_train_batch_size", &C::per_device_train_batch_size, "rows per micro-batch")
          .add("per_device_eval_batch_size", &C::per_device_eval_batch_size, "rows per held-out batch")
          .add("gradient_accumulation_steps", &C::gradient_accumulation_steps, "micro-batches per optimizer step")
          .add("lr_scheduler_type", &C::lr_scheduler_type, "linear | cosine | constant | constant_with_warmup")
          .add("min_lr_rate", &C::min_lr_rate, "cosine floor as a share of the peak (transformers' min_lr_rate)")
          .add("warmup_ratio", &C::warmup_ratio, "warmup as a share of all steps")
          .add("warmup_steps", &C::warmup_steps, "warmup steps; > 0 overrides warmup_ratio")
          .add("weight_decay", &C::weight_decay, "AdamW decoupled weight decay")
          .add("adam_beta1", &C::adam_beta1, "AdamW beta1")
          .add("adam_beta2", &C::adam_beta2, "AdamW beta2")
          .add("adam_epsilon", &C::adam_epsilon, "AdamW epsilon")
          .add("max_grad_norm", &C::max_grad_norm, "gradient clipping norm; <= 0 = none")
          .add("gradient_checkpointing", &C::gradient_checkpointing,
               "keep only each layer's input and recompute the layer in the backward: the same gradients, less "
               "memory, one more forward (transformers false)")
          // bookkeeping
          .add("logging_steps", &C::logging_steps, "steps between progress lines and metrics.jsonl lines")
          .add("report_to", &C::report_to, kReportToHelp)
          .add("eval_steps", &C::eval_steps, "steps between held-out evaluations; 0 = only at the end")
          .add("save_steps", &C::save_steps, "steps between checkpoints; 0 = none in between")
          .add("save_total_limit", &C::save_total_limit, "checkpoints kept; 0 = all")
          .include(ddp_option_fields(), &C::ddp)
          .add("seed", &C::seed, "seed of the data order");
  return fields;
}

Status check_training_arguments(const TrainingArguments& c) {
  if (c.max_steps <= 0 && c.num_train_epochs <= 0)
    return Status::error("one of 'max_steps' or 'num_train_epochs' must be > 0");
  R1_RETURN_IF_ERROR(check_field_rules({
      {c.learning_rate >= 0, "learning_rate", ">= 0", c.learning_rate},
      {c.per_device_train_batch_size > 0, "per_device_train_batch_size", "> 0", double(c.per_device_train_batch_size)},
      {c.per_device_eval_batch_size > 0, "per_device_eval_batch_size", "> 0", double(c.per_device_eval_batch_size)},
      {c.gradient_accumulation_steps > 0, "gradient_accumulation_steps", "> 0", double(c.gradient_accumulation_steps)},
      {c.warmup_ratio >= 0 && c.warmup_ratio <= 1, "warmup_ratio", "in [0, 1]", c.warmup_ratio},
      {c.warmup_steps >= 0, "warmup_steps", ">= 0", double(c.warmup_steps)},
      {c.min_lr_rate >= 0 && c.min_lr_rate <= 1, "min_lr_rate", "in [0, 1]", c.min_lr_rate},
      {c.logging_steps > 0, "logging_steps", "> 0", double(c.logging_steps)},
      {c.eval_steps >= 0, "eval_steps", ">= 0 (0 = no evaluation)", double(c.eval_steps)},
      {c.save_steps >= 0, "save_steps", ">= 0", double(c.save_steps)},
      {c.save_total_limit >= 0, "save_total_limit", ">= 0 (0 = all)", double(c.save_total_limit)},
  }));
  R1_RETURN_IF_ERROR(check_report_to(c.report_to));
  R1_RETURN_IF_ERROR(check_ddp_options(c.ddp));
  if (c.compute.dtype == "float16")
    return field_error("dtype", "must be auto, float32 or bfloat16 for training (float16 would need a loss scaler)");
  return parse_lr_scheduler_type(c.lr_scheduler_type).status();
}

}  // namespace r1
