#include "grpo/sampling_correction.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <limits>

namespace r1 {
namespace {

struct Mode {
  bool sequence;  // one weight per sequence from the summed log-ratio
  bool mask;      // zero outside [C_min, C_max] rather than clamp
};

const std::map<std::string, Mode, std::less<>>& modes() {
  static const std::map<std::string, Mode, std::less<>> m = {{"token_truncate", {false, false}},
                                                             {"token_mask", {false, true}},
                                                             {"sequence_truncate", {true, false}},
                                                             {"sequence_mask", {true, true}}};
  return m;
}

// Mean of x over the loss tokens; x is [B,T] or [B,1] (broadcast over T).
at::Tensor token_mean(const at::Tensor& x, const at::Tensor& mask) {
  return (x * mask).sum() / mask.sum().clamp_min(1.0);
}

// Min of x over the loss tokens, 0 when there are none; no host read (a
// masked_select would synchronise a GPU).
at::Tensor masked_min(const at::Tensor& x, const at::Tensor& mask) {
  at::Tensor on = mask > 0;
  at::Tensor min = at::where(on, x, std::numeric_limits<double>::infinity()).min();
  return at::where(on.any(), min, at::zeros({}, x.options()));
}

}  // namespace

std::vector<std::string> sampling_correction_modes() {
  std::vector<std::string> names;
  for (const auto& [name, mode] : modes()) names.push_back(name);
  return names;
}

Result<SamplingCorrection> sampling_correction(const at::Tensor& old_logps, const at::Tensor& sampling_logps,
                                               const at::Tensor& mask, const SamplingCorrectionOptions& o) {
  auto it = modes().find(o.mode);
  if (it == modes().end()) {
    std::string known;
    for (const std::string& n : sampling_correction_modes()) known += (known.empty() ? "" : ", ") + n;
    return Status::error("importance_sampling_mode '" + o.mode + "' is unknown (known: " + known + ")");
  }
  if (!old_logps.defined() || old_logps.dim() != 2 || !sampling_logps.defined() ||
      sampling_logps.sizes() != old_logps.sizes() || !mask.defined() || mask.sizes() != old_logps.sizes())
    return Status::error("sampling correction: old_logps, sampling_logps and mask must be [B,T] tensors of one shape");
  const Mode mode = it->second;
  at::NoGradGuard no_grad;
  const at::Tensor m = mask.to(old_logps.scalar_type());
  at::Tensor diff = (old_logps.detach() - sampling_logps) * m;  // [B,T]
  at::Tensor log_w = mode.sequence ? diff.sum(-1, /*keepdim=*/true) : diff;
  at::Tensor ratio = at::exp(log_w);  // [B,T] | [B,1]
  const double lo = o.clip_min.value_or(-std::numeric_limits<double>::infinity());
  const double hi = o.clip_max.value_or(std::numeric_limits<double>::infinity());
  at::Tensor outside = (ratio < lo) | (ratio > hi);
  SamplingCorrection out;
  out.weights = mode.mask ? ratio.masked_fill(outside, 0.0) : ratio.clamp(lo, hi);
  at::Tensor outside_f = outside.to(m.scalar_type());
  out.metrics["sampling/masked_fraction"] = mode.mask ? token_mean(outside_f, m) : at::zeros({}, m.options());
  out.metrics["sampling/truncated_fraction"] = mode.mask ? at::zeros({}, m.options()) : token_mean(outside_f, m);
  // Over loss tokens, or over sequences at sequence level (as TRL reports them).
  const at::Tensor& w = out.weights;
  const at::Tensor on = mode.sequence ? at::ones_like(w) : m;
  out.metrics["sampling/importance_sampling_ratio/min"] = masked_min(w, on);
  out.metrics["sampling/importance_sampling_ratio/mean"] = token_mean(w, on);
  out.metrics["sampling/importance_sampling_ratio/max"] = -masked_min(-w, on);
  out.metrics["sampling/sampling_logp_difference/mean"] = token_mean(diff.abs(), m);
  out.metrics["sampling/sampling_logp_difference/max"] = -masked_min(-diff.abs(), m);
  // k3 on tokens drawn from π_sampling: r - 1 - log r with r = π_old / π_sampling.
  out.metrics["mismatch_kl"] = token_mean(at::exp(diff) - diff - 1.0, m);
  return out;
}

}  // namespace r1
