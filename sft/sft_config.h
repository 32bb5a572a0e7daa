// Every setting of an SFT run, parsed from one JSON object through one field
// table (util/config_fields.h). Key names follow TRL's SFTConfig / HF
// TrainingArguments where those have one; docs/sft.md has the table and
// `r1 sft --help-config` prints it. Unknown keys are errors that name the key.
#pragma once

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "train/training_arguments.h"
#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

// TrainingArguments' keys (model, files, optimisation, bookkeeping) plus
// SFT's own. train_file rows: prompt/completion, messages, or text.
struct SFTConfig : TrainingArguments {
  SFTConfig() { learning_rate = 2e-5; }  // TRL SFTConfig's default

  std::string chat_template = "none";   // auto, chatml, llama3, r1_zero, none (plain concatenation)
  std::string dataset_text_field = "text";

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
