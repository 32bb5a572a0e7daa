// The pretrain-toy stage: a tiny base model for the built-in tasks, made
// from nothing, so RL and distillation recipes run on a CPU without a
// download. Three steps, each in the stage folder:
//   corpus.jsonl  train-split problems as rendered prompt + worked solution
//                 (data/builtin_tasks.h task_pretraining_corpus)
//   init/         a BPE tokenizer trained on that corpus and random weights
//                 (model/model_init.h, what `r1 model init` writes)
//   model/        init/ after a short SFT on the corpus (sft/, plain text rows,
//                 every token trained), with checkpoints and metrics.jsonl
// A rerun regenerates the corpus (deterministic), keeps init/, and resumes the
// SFT from its last checkpoint.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include <rapidjson/document.h>

#include "data/builtin_tasks.h"
#include "model/compute_options.h"
#include "model/config.h"
#include "sft/sft_config.h"
#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct PretrainToyConfig {
  std::optional<TaskOptions> corpus;  // key "corpus": a task object ({"task": "arithmetic", "n": 2000, ...}; required)
  std::string template_name =
      "r1_zero";  // key "template": how the corpus renders prompts (r1_zero, chatml, llama3, none)

  // The model: a preset shape (model/model_presets.h), optionally resized.
  std::string arch = "qwen2";  // qwen2, llama, qwen3
  std::string preset = "tiny";
  int64_t num_hidden_layers = 0;  // 0 keeps the preset's; so do the four below
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t tokenizer_vocab = 512;  // BPE vocabulary trained on the corpus
  int64_t seed = 0;               // weight initialisation

  // Key "sft": the pretraining run's SFTConfig keys (docs/sft.md);
  // model_name_or_path, train_file, output_dir, device and dtype are the
  // stage's own.
  SFTConfig sft;
  std::string output_dir;  // the stage folder (required)
  ComputeOptions compute;  // keys `device` and `dtype` of the pretraining SFT ("auto" dtype = float32)

  // The model shape: the preset with the overrides applied.
  Result<ModelConfig> model_config() const;
};

// The keys, their defaults and checks; the checks also fill `sft`'s own keys.
const ConfigFields<PretrainToyConfig>& pretrain_toy_config_fields();

// Parses and checks a config object; `where` names it in errors.
Result<PretrainToyConfig> parse_pretrain_toy_config(const rapidjson::Value& obj, const std::string& where);

struct PretrainToyResult {
  int64_t corpus_texts = 0;
  int64_t parameters = 0;
  int64_t vocab_size = 0;
  int64_t steps = 0;
  double loss = 0.0;  // last optimizer step's
  std::string model_dir;
};

// Runs the three steps (resuming as above); progress goes to `log`.
Result<PretrainToyResult> run_pretrain_toy(const PretrainToyConfig& config, std::FILE* log);

}  // namespace r1
