// Trains a small byte-level BPE tokenizer (Qwen2-style: NFC, the Qwen2 Split
// regex, ByteLevel, ByteLevel decoder) and writes HF-compatible
// tokenizer.json + tokenizer_config.json.
//
// Vocabulary layout: the special tokens (ids 0..k-1), then the 256 byte
// symbols in byte-value order, then one token per merge. Each step merges the
// most frequent adjacent pair (counts weighted by pre-token frequency); ties go
// to the smallest (left id, right id). Training stops at vocab_size or when no
// pair occurs min_frequency times; with zero merges it is a pure byte tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

struct BpeTrainerOptions {
  int64_t vocab_size = 1024;  // total, special tokens and the 256 bytes included
  int64_t min_frequency = 2;
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  std::string eos_token = "<|im_end|>";
  std::string pad_token = "<|endoftext|>";
  int64_t model_max_length = 32768;
};

// The Qwen2 pre-tokenizer regex (also used by the trainer's tokenizer.json).
extern const char* const kQwen2SplitPattern;

// Trains on `texts` and returns the tokenizer.json text.
Result<std::string> train_bpe_tokenizer_json(const std::vector<std::string>& texts, const BpeTrainerOptions& options);

// tokenizer_config.json for transformers.AutoTokenizer (ChatML chat_template).
std::string tokenizer_config_json(const BpeTrainerOptions& options);

// Trains and writes dir/tokenizer.json and dir/tokenizer_config.json (atomically).
Status write_tokenizer_files(const std::string& dir, const std::vector<std::string>& texts,
                             const BpeTrainerOptions& options);

// Documents of a corpus: a .jsonl file's "text" fields, else one per line.
Result<std::vector<std::string>> read_corpus(const std::string& path);

}  // namespace r1
