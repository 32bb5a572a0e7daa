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

// Vocabulary blocks of the two-level inverse CDF: 128 divides the common
// vocabularies (Qwen2.5's and Qwen3's 151,936, Llama 3's 128,256, DeepSeek's
// 129,280, SmolLM2's 49,152), which then need no padded copy.
constexpr int64_t kBlock = 128;

// The first token whose cumulative mass exceeds uniforms * total mass, per
// row of probs [B, V] >= 0 -> [B, 1] int64. Two levels, block sums and then
// one block's cumsum, rather than a cumsum over the whole vocabulary: on a GPU
// the long scan took 250 us a decode step at 128 rows of 152k tokens (7% of
// the step). A token of zero mass is never taken: inside a block its cdf
// equals its predecessor's, and when rounding puts the whole block at or below
// the target although the block sums above it, the block's last token of
// nonzero mass is.
at::Tensor inverse_cdf(const at::Tensor& probs, const at::Tensor& uniforms) {
  int64_t B = probs.size(0), V = probs.size(1), blocks = (V + kBlock - 1) / kBlock;
  at::Tensor padded =
      (V % kBlock ? at::constant_pad_nd(probs, {0, blocks * kBlock - V}) : probs).view({B, blocks, kBlock});
  at::Tensor block_cdf = padded.sum(-1).cumsum(-1);                                           // [B, blocks]
  at::Tensor target = uniforms.unsqueeze(-1) * block_cdf.narrow(-1, blocks - 1, 1);           // [B, 1]
  at::Tensor block = (block_cdf <= target).sum(-1, /*keepdim=*/true).clamp_max_(blocks - 1);  // [B, 1]
  at::Tensor before = at::constant_pad_nd(block_cdf, {1, 0}).gather(-1, block);               // mass of earlier blocks
  at::Tensor in_block = padded.gather(1, block.unsqueeze(-1).expand({B, 1, kBlock})).squeeze(1);  // [B, kBlock]
  at::Tensor offset = (before + in_block.cumsum(-1) <= target).sum(-1, /*keepdim=*/true);
  at::Tensor last_nonzero = ((in_block > 0) * at::arange(kBlock, block.options())).amax(-1, /*keepdim=*/true);
  return block * kBlock + at::minimum(offset, last_nonzero);
}

// log-softmax(logits)[token] per row.
at::Tensor logprob_of(const at::Tensor& logits, const at::Tensor& tokens) {
  return logits.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1);
}

}  // namespace

SampledTokens sample_tokens(const at::Tensor& logits, const SamplingOptions& o, const at::Tensor& uniforms) {
  if (o.greedy()) {
    at::Tensor tokens = logits.argmax(-1);
    return {tokens, logprob_of(logits.to(at::kFloat), tokens)};
  }
  // With u <= 1 - 2^-24 exactly representable, u * total rounds below the
  // total, so some token's cumulative mass always exceeds it.
  if (o.top_k == 0 && o.top_p == 1.0 && o.min_p == 0.0) {
    // One fp32 softmax (converting as it reads, at temperature 1) serves the
    // draw and the log-prob: a token is drawn with its probability, so one
    // below fp32's smallest normal (1e-38), whose log would lose digits, is not.
    at::Tensor probs =
        o.temperature != 1.0 ? (logits.to(at::kFloat) / o.temperature).softmax(-1) : logits.softmax(-1, at::kFloat);
    at::Tensor tokens = inverse_cdf(probs, uniforms).squeeze(-1);  // [B] int64
    return {tokens, probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).log()};
  }
  at::Tensor scaled = logits.to(at::kFloat);
  if (o.temperature != 1.0) scaled = scaled / o.temperature;
  at::Tensor truncated = scaled.clone();
  truncate_logits(truncated, o);
  at::Tensor tokens = inverse_cdf(truncated.softmax(-1), uniforms).squeeze(-1);
  return {tokens, logprob_of(scaled, tokens)};
}

}  // namespace r1
