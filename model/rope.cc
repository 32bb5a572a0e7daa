#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace r1 {

namespace {

at::Tensor llama3_inverse_frequencies(const RopeScaling& r, const at::Tensor& inv) {
  double old_len = static_cast<double>(r.original_max_position_embeddings);
  double low_wavelen = old_len / r.low_freq_factor;
  double high_wavelen = old_len / r.high_freq_factor;
  at::Tensor wavelen = 2 * M_PI / inv;
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv / r.factor, inv);
  at::Tensor smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
  at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return at::where(medium, smoothed, scaled);
}

// Extrapolated (original) frequencies for the fast dims, interpolated
// (divided by factor) for the slow ones, and a linear ramp between them over
// the dims that make beta_fast..beta_slow rotations in the original context.
at::Tensor yarn_inverse_frequencies(const ModelConfig& c, const at::Tensor& pos_freqs) {
  const RopeScaling& r = c.rope_scaling;
  double dim = static_cast<double>(c.head_dim), base = c.rope_theta;
  auto correction_dim = [&](double rotations) {
    return dim * std::log(r.original_max_position_embeddings / (rotations * 2 * M_PI)) / (2 * std::log(base));
  };
  double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
  if (r.truncate) low = std::floor(low), high = std::ceil(high);
  low = std::max(low, 0.0), high = std::min(high, dim - 1);
  if (low == high) high += 0.001;  // as transformers: no zero-width ramp
  at::Tensor ramp = at::clamp((at::arange(c.head_dim / 2, at::kFloat) - low) / (high - low), 0, 1);
  at::Tensor extrapolation = 1 - ramp;
  at::Tensor interpolated = 1.0 / (r.factor * pos_freqs), extrapolated = 1.0 / pos_freqs;
  return interpolated * (1 - extrapolation) + extrapolated * extrapolation;
}

}  // namespace

at::Tensor rope_inverse_frequencies(const ModelConfig& c) {
  int64_t dim = c.head_dim;
  at::Tensor pos_freqs = at::pow(c.rope_theta, at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim);
  const RopeScaling& r = c.rope_scaling;
  if (r.type == "yarn") return yarn_inverse_frequencies(c, pos_freqs);
  at::Tensor inv = 1.0 / pos_freqs;
  if (r.type == "linear") return inv / r.factor;
  if (r.type == "llama3") return llama3_inverse_frequencies(r, inv);
  return inv;
}

double yarn_mscale(double scale, double mscale) { return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

double rope_attention_factor(const ModelConfig& c) {
  const RopeScaling& r = c.rope_scaling;
  if (r.type != "yarn") return 1.0;
  if (r.attention_factor) return *r.attention_factor;
  if (r.mscale != 0 && r.mscale_all_dim != 0)
    return yarn_mscale(r.factor, r.mscale) / yarn_mscale(r.factor, r.mscale_all_dim);
  return yarn_mscale(r.factor, 1.0);
}

}  // namespace r1
