#include "model/scoring.h"

#include "model/chunked_logprobs.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <map>

namespace r1 {

TokenBatch make_token_batch(const std::vector<std::vector<int64_t>>& sequences, at::Device device) {
  int64_t B = static_cast<int64_t>(sequences.size()), L = 1;
  for (const auto& s : sequences) L = std::max<int64_t>(L, s.size());
  TokenBatch batch{at::zeros({B, L}, at::kLong), at::zeros({B}, at::kLong)};
  int64_t* ids = batch.ids.data_ptr<int64_t>();
  int64_t* lengths = batch.lengths.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    std::copy(sequences[b].begin(), sequences[b].end(), ids + b * L);
    lengths[b] = static_cast<int64_t>(sequences[b].size());
  }
  if (!device.is_cpu()) batch = {batch.ids.to(device), batch.lengths.to(device)};
  return batch;
}

at::Tensor causal_padding_mask(const at::Tensor& lengths, int64_t L) {
  at::Tensor idx = at::arange(L, lengths.options());
  at::Tensor causal = idx.unsqueeze(1) >= idx.unsqueeze(0);                       // [L, L]
  at::Tensor key_valid = idx.unsqueeze(0) < lengths.unsqueeze(1);                 // [B, L]
  at::Tensor diagonal = at::eye(L, lengths.options().dtype(at::kBool));           // [L, L]
  return (causal.unsqueeze(0) & key_valid.unsqueeze(1)) | diagonal.unsqueeze(0);  // [B, L, L]
}

at::Tensor batch_hidden(const Transformer& model, const TokenBatch& batch) {
  int64_t B = batch.ids.size(0), L = batch.ids.size(1);
  at::Tensor positions = at::arange(L, batch.ids.options()).unsqueeze(0).expand({B, L});
  return model.forward(batch.ids, positions, causal_padding_mask(batch.lengths, L));
}

namespace {

// log p(targets) under softmax(lm_head(hidden) / temperature) for hidden
// [B, T, hidden] and targets [B, T]; entropy [B, T] when asked (no grad).
// Chunked: the [B, T, vocab] logits are never all built, nor kept for the backward.
at::Tensor target_logprobs(const Transformer& model, const at::Tensor& hidden, const at::Tensor& targets,
                           double temperature, at::Tensor* entropy) {
  int64_t B = hidden.size(0), T = hidden.size(1);
  at::Tensor logprobs = chunked_target_logprobs(hidden.reshape({B * T, hidden.size(2)}), model.lm_head_weight(),
                                                targets.reshape({B * T}), temperature, entropy);
  if (entropy) *entropy = entropy->view({B, T});
  return logprobs.view({B, T});
}

}  // namespace

at::Tensor next_token_logprobs(const Transformer& model, const TokenBatch& batch, double temperature,
                               at::Tensor* entropy) {
  int64_t L = batch.ids.size(1);
  at::Tensor hidden = batch_hidden(model, batch).narrow(1, 0, L - 1);
  at::Tensor logprobs = target_logprobs(model, hidden, batch.ids.narrow(1, 1, L - 1), temperature, entropy);
  at::Tensor valid = at::arange(1, L, batch.ids.options()).unsqueeze(0) < batch.lengths.unsqueeze(1);
  if (entropy) *entropy = *entropy * valid;
  return logprobs * valid;
}

PromptCompletionBatch make_prompt_completion_batch(const std::vector<std::vector<int64_t>>& prompts,
                                                   const std::vector<std::vector<int64_t>>& completions,
                                                   at::Device device) {
  std::map<std::vector<int64_t>, int64_t> index;
  std::vector<std::vector<int64_t>> distinct;
  std::vector<int64_t> prompt_of;
  for (const auto& p : prompts) {
    auto [it, added] = index.emplace(p, static_cast<int64_t>(distinct.size()));
    if (added) distinct.push_back(p);
    prompt_of.push_back(it->second);
  }
  return {make_token_batch(distinct, device), make_token_batch(completions, device),
          at::tensor(prompt_of, at::kLong).to(device)};
}

at::Tensor completion_hidden(const Transformer& model, const PromptCompletionBatch& batch,
                             PromptCompletionRouting* routing) {
  const at::Tensor& lengths = batch.prompts.lengths;
  int64_t K = batch.prompts.ids.size(0), P = batch.prompts.ids.size(1);
  int64_t N = batch.completions.ids.size(0), C = batch.completions.ids.size(1);
  // The distinct prompts, keeping their keys/values in the graph.
  KVCache prefix;
  at::Tensor prompt_positions = at::arange(P, lengths.options()).unsqueeze(0).expand({K, P});
  at::Tensor prompt_hidden = model.forward(batch.prompts.ids, prompt_positions, causal_padding_mask(lengths, P),
                                           AttentionKV::collect(&prefix), routing ? &routing->prompts : nullptr);
  at::Tensor last_prompt_hidden = prompt_hidden.index({at::arange(K, lengths.options()), lengths - 1});  // [K, H]
  // The completions, each reading its prompt's keys first: [N, C, P + C].
  at::Tensor prompt_length = lengths.index_select(0, batch.prompt_of);  // [N]
  at::Tensor positions = prompt_length.unsqueeze(1) + at::arange(C, lengths.options()).unsqueeze(0);
  at::Tensor prompt_keys = at::arange(P, lengths.options()).unsqueeze(0) < prompt_length.unsqueeze(1);  // [N, P]
  at::Tensor allowed = at::cat(
      {prompt_keys.unsqueeze(1).expand({N, C, P}), causal_padding_mask(batch.completions.lengths, C)}, 2);
  at::Tensor hidden =
      model.forward(batch.completions.ids, positions, allowed, AttentionKV::after_prefix(&prefix, batch.prompt_of),
                    routing ? &routing->completions : nullptr);
  // Token t is predicted from the state before it: the prompt's last for t = 0.
  return at::cat({last_prompt_hidden.index_select(0, batch.prompt_of).unsqueeze(1), hidden.narrow(1, 0, C - 1)}, 1);
}

at::Tensor completion_logprobs(const Transformer& model, const PromptCompletionBatch& batch, double temperature,
                               at::Tensor* entropy, PromptCompletionRouting* routing) {
  at::Tensor predicting = completion_hidden(model, batch, routing);
  at::Tensor logprobs = target_logprobs(model, predicting, batch.completions.ids, temperature, entropy);
  int64_t C = batch.completions.ids.size(1);
  const at::Tensor& lengths = batch.completions.lengths;
  at::Tensor valid = at::arange(C, lengths.options()).unsqueeze(0) < lengths.unsqueeze(1);
  if (entropy) *entropy = *entropy * valid;
  return logprobs * valid;
}

}  // namespace r1
