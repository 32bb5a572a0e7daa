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
#include "sft/sft_data.h"
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

// Rows of n short samples of ids below `vocab`, the first two tokens of each
// untrained.
inline std::vector<SftRow> toy_rows(int64_t n, int64_t vocab) {
  std::vector<SftSample> samples;
  for (int64_t i = 0; i < n; ++i) {
    SftSample s;
    for (int64_t t = 0; t < 4 + (i * 3) % 7; ++t) {
      s.ids.push_back((i * 7 + t * 5) % vocab);
      s.trained.push_back(t >= 2);
    }
    samples.push_back(s);
  }
  return make_rows(samples, false, 64);
}

// A random tiny llama of 50 tokens whose weights require grad.
inline Transformer trainable_tiny(uint64_t seed) {
  ModelConfig c = *preset_config(ModelFamily::llama, "tiny");
  c.vocab_size = 50;
  Transformer m = Transformer::random(c, seed);
  for (const auto& [n, t] : m.tensors()) t.set_requires_grad(true);
  return m;
}

// A random tiny model of `family` with `vocab` tokens.
inline Transformer random_tiny(ModelFamily family, int64_t vocab, uint64_t seed) {
  ModelConfig c = *preset_config(family, "tiny");
  c.vocab_size = vocab;
  return Transformer::random(c, seed);
}

}  // namespace r1
