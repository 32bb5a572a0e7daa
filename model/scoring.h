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

// Built on the host and moved to `device` once (the model's, for its inputs).
TokenBatch make_token_batch(const std::vector<std::vector<int64_t>>& sequences, at::Device device = at::kCPU);

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

// Completions that continue prompts, each distinct prompt stored once:
// completion n follows prompt prompt_of[n].
struct PromptCompletionBatch {
  TokenBatch prompts;      // [K, P] distinct prompts, right-padded
  TokenBatch completions;  // [N, C] right-padded
  at::Tensor prompt_of;    // [N] int64 rows of `prompts`
  // Padding-free scoring (Transformer::forward's `packed`): the indices of
  // the real tokens in [K * P] and [N * C], row by row; undefined where a
  // side has no padding or packing was not asked for.
  at::Tensor prompt_tokens;      // [Tp]
  at::Tensor completion_tokens;  // [Tc]
  // With completion_tokens: the completion tokens the model runs, every
  // real one but each completion's last (which predicts nothing), and the
  // state each packed completion token is predicted from, as a row of [the
  // N completions' last prompt states; the Ti input states]: row n for a
  // first token, else the previous token's.
  at::Tensor input_tokens;    // [Ti]
  at::Tensor predicted_from;  // [Tc]
};

// Groups identical prompts (in order of first appearance); prompts must be
// non-empty. `padding_free`: fill the packed indices (scoring then computes
// no padded token; the same values up to fp32 rounding).
PromptCompletionBatch make_prompt_completion_batch(const std::vector<std::vector<int64_t>>& prompts,
                                                   const std::vector<std::vector<int64_t>>& completions,
                                                   at::Device device = at::kCPU, bool padding_free = true);

// The MoE routing of the two forwards completion_logprobs runs (model/moe.h):
// the distinct prompts [K, P, ...] and the completions [N, C, ...].
struct PromptCompletionRouting {
  MoeRouting prompts;
  MoeRouting completions;
};

// entry [n, t] = log p(completion n token t | its prompt, completion tokens
// before t) under softmax(logits / temperature); [N, C], zero past each
// completion's length. Differentiable. Each distinct prompt is run once and
// its keys/values are shared by the completions that follow it (in the
// backward too), and logits are computed for completion tokens only: with G
// samples per prompt, the prompt's cost is paid once instead of G times.
// Padded tokens are not computed when the batch is padding-free and no
// routing is asked for.
// With `entropy`, also fills it [N, C] (no grad, zero past each length).
// `routing` replays and/or records a DeepSeekMoE policy's routes.
at::Tensor completion_logprobs(const Transformer& model, const PromptCompletionBatch& batch, double temperature = 1.0,
                               at::Tensor* entropy = nullptr, PromptCompletionRouting* routing = nullptr);

// The hidden states completion_logprobs predicts from: entry [n, t] is the
// final-normed state before completion n's token t (its prompt's last for
// t = 0); [N, C, hidden], differentiable, zero rows past each length are
// not masked (mask with the completions' lengths).
at::Tensor completion_hidden(const Transformer& model, const PromptCompletionBatch& batch,
                             PromptCompletionRouting* routing = nullptr);

}  // namespace r1
