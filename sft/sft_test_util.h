// Test helpers: a tiny byte-level model folder and small files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "model/bpe_trainer.h"
#include "model/model_presets.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "util/file.h"

namespace r1 {

inline std::string sft_temp_dir(const std::string& name) {
  std::string dir = std::string(::testing::TempDir()) + "/r1_sft_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  throw_if_error(make_dirs(dir));
  return dir;
}

// A random tiny qwen2 model with a bytes-only tokenizer (ChatML specials).
inline std::string write_tiny_model(const std::string& dir, uint64_t seed) {
  std::string tok_dir = dir + "/tokenizer";
  BpeTrainerOptions t;
  t.vocab_size = 256 + static_cast<int64_t>(t.special_tokens.size());
  throw_if_error(make_dirs(tok_dir));
  throw_if_error(write_tokenizer_files(tok_dir, {}, t));
  Tokenizer tok = value_or_throw(Tokenizer::load(tok_dir));
  ModelConfig c = value_or_throw(preset_config(ModelFamily::qwen2, "tiny"));
  c.vocab_size = tok.vocab_size();
  c.eos_token_ids = {*tok.token_to_id(t.eos_token)};
  c.pad_token_id = *tok.token_to_id(t.pad_token);
  std::string model_dir = dir + "/model0";
  throw_if_error(Transformer::random(c, seed).save(model_dir, tok_dir));
  return model_dir;
}

}  // namespace r1
