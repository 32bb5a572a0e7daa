// Importance-sampling correction for the gap between the policy that sampled
// a completion (π_sampling: an older version in async mode, or another
// engine) and the learner's π_old, the policy the clipped ratio is taken
// against. A pure function of tensors, TRL's vllm_importance_sampling_*
// semantics (docs/grpo.md, "Asynchronous generation"):
//
//   w = exp(log π_old - log π_sampling)   per token, or summed per sequence
//   *_truncate: w clamped to [C_min, C_max]; *_mask: w = 0 outside it
//
// and the policy loss multiplies each token's surrogate by w (before the KL
// term). IcePop's token masking is token_mask with [0.5, 2].
//
// Shapes: B sequences, T completion positions.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

struct SamplingCorrectionOptions {
  std::string mode = "token_truncate";  // token_truncate | token_mask | sequence_truncate | sequence_mask
  std::optional<double> clip_min{};     // C_min; none = no lower bound
  std::optional<double> clip_max = 3.0;  // C_max; none = no upper bound
};

struct SamplingCorrection {
  at::Tensor weights;  // [B,T] token modes, [B,1] sequence modes; detached, 0 where masked
  // 0-dim detached tensors over the loss tokens: mismatch_kl (k3 estimate of
  // KL(π_sampling ‖ π_old)), sampling/importance_sampling_ratio/{min,mean,max}
  // (after clamping or masking, TRL's names),
  // sampling/sampling_logp_difference/{mean,max} (|log π_old - log π_sampling|),
  // sampling/masked_fraction and sampling/truncated_fraction (loss tokens
  // whose weight was zeroed, or clamped).
  std::map<std::string, at::Tensor> metrics;
};

// old_logps, sampling_logps, mask: [B,T]. Errors name a bad shape or mode.
Result<SamplingCorrection> sampling_correction(const at::Tensor& old_logps, const at::Tensor& sampling_logps,
                                               const at::Tensor& mask, const SamplingCorrectionOptions& options);

std::vector<std::string> sampling_correction_modes();

}  // namespace r1
