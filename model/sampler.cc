#include "model/sampler.h"

#include <limits>

namespace r1 {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Masks (in place, with -inf) everything outside top-k / top-p / min-p.
void truncate_logits(at::Tensor& logits, const SamplingOptions& o) {
  int64_t vocab = logits.size(-1);
  if (o.top_k > 0 && o.top_k < vocab) {
    at::Tensor kth = std::get<0>(logits.topk(o.top_k, -1)).narrow(-1, o.top_k - 1, 1);
    logits.masked_fill_(logits < kth, kNegInf);
  }
  if (o.top_p < 1.0) {
    auto [sorted, order] = logits.sort(-1, /*descending=*/true);
    at::Tensor sorted_probs = sorted.softmax(-1);
    // Remove a token when the mass before it already reaches top_p; the most
    // likely token always stays.
    at::Tensor remove = (sorted_probs.cumsum(-1) - sorted_probs) >= o.top_p;
    logits.scatter_(-1, order, sorted.masked_fill(remove, kNegInf));
  }
  if (o.min_p > 0.0) {
    at::Tensor probs = logits.softmax(-1);
    at::Tensor threshold = probs.amax(-1, /*keepdim=*/true) * o.min_p;
    logits.masked_fill_(probs < threshold, kNegInf);
  }
}

}  // namespace

Status SamplingOptions::validate() const {
  if (temperature < 0) return Status::error("temperature must be >= 0, got " + std::to_string(temperature));
  if (top_k < 0) return Status::error("top_k must be >= 0, got " + std::to_string(top_k));
  if (!(top_p > 0 && top_p <= 1)) return Status::error("top_p must be in (0, 1], got " + std::to_string(top_p));
  if (!(min_p >= 0 && min_p < 1)) return Status::error("min_p must be in [0, 1), got " + std::to_string(min_p));
  return Status();
}

SampledTokens sample_tokens(const at::Tensor& logits, const SamplingOptions& o, const at::Tensor& uniforms) {
  at::Tensor scaled = logits.to(at::kFloat);
  if (o.greedy()) {
    at::Tensor tokens = scaled.argmax(-1);
    at::Tensor logprobs = scaled.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1);
    return {tokens, logprobs};
  }
  if (o.temperature != 1.0) scaled = scaled / o.temperature;
  at::Tensor logprobs_all = scaled.log_softmax(-1);
  at::Tensor truncated = scaled;  // copied only when something is masked
  if (o.top_k > 0 || o.top_p < 1.0 || o.min_p > 0.0) {
    truncated = scaled.clone();
    truncate_logits(truncated, o);
  }
  // The token is the first whose cumulative mass exceeds u * total. Tokens
  // of zero mass never are (their cdf equals their predecessor's), and with
  // u <= 1 - 2^-24 exactly representable, u * total rounds below total, so
  // one always is.
  at::Tensor cdf = truncated.softmax(-1).cumsum(-1);                   // [B, V]
  at::Tensor target = uniforms.unsqueeze(-1) * cdf.narrow(-1, cdf.size(-1) - 1, 1);  // [B, 1]
  at::Tensor tokens = (cdf <= target).sum(-1);                         // [B] int64
  at::Tensor logprobs = logprobs_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1);
  return {tokens, logprobs};
}

}  // namespace r1
