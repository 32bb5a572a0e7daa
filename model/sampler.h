// Turning next-token logits into tokens: temperature, top-k, top-p, min-p,
// then an inverse-CDF draw with one given uniform number per row. The
// numbers come from counter-based streams (util/counter_rng.h), so a row's
// token depends on its own logits and number only, never on the batch.
#pragma once

#include <ATen/ATen.h>

#include "model/sampling_options.h"

namespace r1 {

struct SampledTokens {
  at::Tensor tokens;    // [B] int64
  // [B] fp32: log-softmax(logits / temperature) at the token, i.e. the
  // log-probability the GRPO learner recomputes (before top-k/p/min-p
  // truncation); plain log-softmax for greedy decoding.
  at::Tensor logprobs;
};

// logits: [B, V] in any float dtype; processing happens in fp32.
// uniforms: [B] fp32 on the logits' device, each in [0, 1 - 2^-24] and a
// multiple of 2^-24 (uniform24); unused when greedy.
SampledTokens sample_tokens(const at::Tensor& logits, const SamplingOptions& options, const at::Tensor& uniforms);

}  // namespace r1
