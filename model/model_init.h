// A randomly initialised model with its own byte-level BPE tokenizer, written
// as an HF folder: what `r1 model init` writes, and what a pipeline's
// pretrain-toy stage starts from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "util/status.h"

namespace r1 {

struct ModelInitOptions {
  ModelConfig config;               // the shape (e.g. preset_config); vocab, eos and pad come from the tokenizer
  std::vector<std::string> corpus;  // texts the tokenizer's merges are trained on; empty: bytes only
  int64_t tokenizer_vocab = 512;    // tokenizer vocabulary with a corpus
  int64_t vocab_size = 0;           // model vocabulary (>= the tokenizer's, padded rows unused); 0 = the tokenizer's
  std::string dtype = "float32";    // stored weights: float32, bfloat16 or float16
  uint64_t seed = 0;                // initialisation seed
};

// Trains the tokenizer, draws the weights and writes the folder `out`
// (replaced whole, as every checkpoint save does). Returns the model's config
// with the vocabulary and special token ids filled in.
Result<ModelConfig> init_model(const ModelInitOptions& options, const std::string& out);

}  // namespace r1
