// Every setting of an SFT run, parsed from one JSON object through one field
// table (util/config_fields.h). Key names follow TRL's SFTConfig / HF
// TrainingArguments where those have one; docs/sft.md has the table and
// `r1 sft --help-config` prints it. Unknown keys are errors that name the key.
#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "model/compute_options.h"
#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct SFTConfig {
  // Data and model.
  std::string model_name_or_path;  // HF folder to start from (required)
  std::string train_file;          // JSONL: prompt/completion, messages, or text rows (required)
  std::string eval_file;           // held-out JSONL in the same forms; "" for none
  std::string output_dir;          // checkpoints, final model in <output_dir>/model, metrics.jsonl (required)
  std::string chat_template = "none";   // auto, chatml, llama3, r1_zero, none (plain concatenation)
  std::string dataset_text_field = "text";
  // Keys `device` and `dtype` ("auto" = float32 here; bfloat16 keeps fp32
  // master weights in the optimizer).
  ComputeOptions compute;

  // Optimisation.
  double learning_rate = 2e-5;
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

  // Sequences and loss.
  int64_t max_length = 1024;       // tokens per sample (truncated on the right), and per packed row
  bool packing = false;
  bool completion_only_loss = true;  // false trains on prompt tokens too
  bool add_eos = true;             // append the first eos_token_id unless a ChatML/Llama-3 template ends the turn

  // Logit distillation (docs/distill.md): loss = (1 - distill_alpha) * CE +
  // distill_alpha * T^2 * KL(teacher_T || student_T) per completion token,
  // T = distill_temperature. distill_alpha = 0 is plain SFT (the teacher is
  // not loaded). The teacher needs the student's vocabulary.
  std::string teacher_model_name_or_path;
  double distill_alpha = 0.0;
  double distill_temperature = 1.0;

  // Bookkeeping.
  int64_t logging_steps = 10;
  std::vector<std::string> report_to;  // "tensorboard" adds event files in <output_dir>/runs (TRL's key)
  int64_t eval_steps = 0;          // 0: evaluate only at the end (when eval_file is set)
  int64_t save_steps = 500;        // 0: no intermediate checkpoints
  int64_t save_total_limit = 0;    // 0 keeps all
  double ddp_timeout = 1800;       // several ranks: seconds a rank waits at a collective (transformers 1800)
  int64_t seed = 42;
};

// The keys, their defaults and checks.
const ConfigFields<SFTConfig>& sft_config_fields();

// Parses and validates a config object; `where` names it in errors.
Result<SFTConfig> parse_sft_config(const rapidjson::Value& obj, const std::string& where);

// Reads `path`, applies `overrides` ("key=value"; value parsed as JSON when it
// is valid JSON, else taken as a string), then validates.
Result<SFTConfig> load_sft_config(const std::string& path, const std::vector<std::string>& overrides);

// The config as a JSON object (saved next to the run for reproducibility).
std::string sft_config_json(const SFTConfig& config);

}  // namespace r1
