// Hugging Face checkpoint folders: config.json + model.safetensors (or
// sharded with model.safetensors.index.json) + tokenizer files.
#pragma once

#include <string>

#include "model/config.h"
#include "model/safetensors.h"
#include "util/status.h"

namespace r1 {

// All tensors of a folder, memory-mapped; sharded checkpoints are merged
// through the index's weight_map.
Result<TensorMap> load_checkpoint_tensors(const std::string& dir);

struct SaveOptions {
  std::string tokenizer_from;  // folder whose tokenizer files are copied, if any
};

// Writes an HF folder that transformers loads: config.json,
// generation_config.json, model.safetensors ({"format": "pt"}), tokenizer
// files. Written into a temp folder first and renamed over `dir`, so `dir` is
// either the old complete folder or the new complete one.
Status save_checkpoint(const std::string& dir, const ModelConfig& config, const TensorMap& tensors,
                       const SaveOptions& options = {});

// Tokenizer-side files that travel with a checkpoint.
extern const char* const kTokenizerFiles[];

}  // namespace r1
