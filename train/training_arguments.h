// The settings every trainer on a fixed dataset shares (SFT, logit
// distillation, reward models): model and files, optimisation, checkpoints
// and logging, under HF TrainingArguments' names, with one field table. A
// trainer's config derives from TrainingArguments and takes the table with
// ConfigFields::include_base; its own keys and checks come beside it.
#pragma once

#include <string>
#include <vector>

#include "model/compute_options.h"
#include "train/ddp_options.h"
#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct TrainingArguments {
  // Model and data.
  std::string model_name_or_path;  // HF folder to start from (required)
  std::string train_file;          // JSONL (required); the trainer defines the rows
  std::string eval_file;           // held-out JSONL in the same form; "" for none
  std::string output_dir;          // checkpoints, final model in <output_dir>/model, metrics.jsonl (required)
  // Keys `device` and `dtype` ("auto" = float32 here; bfloat16 keeps fp32
  // master weights in the optimizer).
  ComputeOptions compute;

  // Optimisation.
  double learning_rate = 5e-5;     // trainers set their own default (TRL's)
  double num_train_epochs = 3.0;
  int64_t max_steps = -1;          // > 0 overrides num_train_epochs
  int64_t per_device_train_batch_size = 8;
  int64_t per_device_eval_batch_size = 8;
  int64_t gradient_accumulation_steps = 1;
  std::string lr_scheduler_type = "linear";
  double min_lr_rate = 0.0;        // cosine floor (lr_scheduler_kwargs.min_lr_rate in transformers)
  double warmup_ratio = 0.0;
  int64_t warmup_steps = 0;        // > 0 overrides warmup_ratio
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;      // <= 0: no clipping
  bool gradient_checkpointing = false;  // recompute each layer in the backward (transformers' False)

  // Bookkeeping.
  int64_t logging_steps = 10;
  std::vector<std::string> report_to;  // "tensorboard" adds event files in <output_dir>/runs (TRL's key)
  int64_t eval_steps = 0;          // 0: evaluate only at the end (when eval_file is set)
  int64_t save_steps = 500;        // 0: no intermediate checkpoints
  int64_t save_total_limit = 0;    // 0 keeps all
  // The ddp_* keys (train/ddp_options.h).
  DdpOptions ddp;
  int64_t seed = 42;
};

// The keys above, with their help; no checks (check_training_arguments).
const ConfigFields<TrainingArguments>& training_arguments_fields();

// Required keys, ranges and spellings; errors name the key.
Status check_training_arguments(const TrainingArguments& args);

}  // namespace r1
