// Rotary position embedding parameters as transformers computes them:
// inverse frequencies for default, linear, llama3 and yarn scaling, and
// YaRN's magnitude corrections.
#pragma once

#include <ATen/ATen.h>

#include "model/config.h"

namespace r1 {

// RoPE inverse frequencies [head_dim / 2] fp32 with the config's scaling.
at::Tensor rope_inverse_frequencies(const ModelConfig& config);

// The factor cos and sin are multiplied by (YaRN's attention_factor; 1 otherwise).
double rope_attention_factor(const ModelConfig& config);

// YaRN's mscale: 0.1 * mscale * ln(scale) + 1 for scale > 1, else 1.
double yarn_mscale(double scale, double mscale);

}  // namespace r1
