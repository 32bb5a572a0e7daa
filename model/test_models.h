// Small random models for unit tests (header-only: tests of every library use it).
#pragma once

#include "model/model_presets.h"
#include "model/transformer.h"
#include "util/status.h"

namespace r1 {

// A family's `tiny` preset (qwen2 unless told) with a small vocabulary and
// N(0, initializer_range) weights (a wider range than the default makes
// distributions peaked enough to tell apart); `trainable` sets
// requires_grad on every weight.
inline Transformer tiny_random_model(int64_t vocab_size, double initializer_range, uint64_t seed,
                                     bool trainable = false, ModelFamily family = ModelFamily::qwen2) {
  ModelConfig c = value_or_throw(preset_config(family, "tiny"));
  c.vocab_size = vocab_size;
  c.initializer_range = initializer_range;
  Transformer m = Transformer::random(c, seed);
  if (trainable)
    for (auto& t : m.parameters()) t.set_requires_grad(true);
  return m;
}

}  // namespace r1
