// Teacher-forced scoring of whole sequences: logits and per-token
// log-probabilities of right-padded batches (used by `r1 logprobs`, the GRPO
// learner and SFT).
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "model/transformer.h"

namespace r1 {

struct TokenBatch {
  at::Tensor ids;      // [B, L] int64, right-padded with 0
  at::Tensor lengths;  // [B] int64
};

TokenBatch make_token_batch(const std::vector<std::vector<int64_t>>& sequences);

// [B, L, L] bool: causal and inside the row's length; padded query rows
// attend to themselves only, so no softmax row is empty.
at::Tensor causal_padding_mask(const at::Tensor& lengths, int64_t L);

// Final hidden states [B, L, hidden] of a right-padded batch.
at::Tensor batch_hidden(const Transformer& model, const TokenBatch& batch);

// entry [b, t] = log p(ids[b, t+1] | ids[b, :t+1]) under softmax(logits /
// temperature); [B, L-1], zero past each row's length. Differentiable.
// With `entropy`, also fills it with the entropy of each predicted
// distribution [B, L-1] (no grad, zero past each row's length).
at::Tensor next_token_logprobs(const Transformer& model, const TokenBatch& batch, double temperature = 1.0,
                               at::Tensor* entropy = nullptr);

}  // namespace r1
