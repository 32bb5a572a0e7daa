#include "model/scoring.h"

#include "model/chunked_logprobs.h"
#include "model/layer_ops.h"

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
                                                   at::Device device, bool padding_free) {
  std::map<std::vector<int64_t>, int64_t> index;
  std::vector<std::vector<int64_t>> distinct;
  std::vector<int64_t> prompt_of;
  for (const auto& p : prompts) {
    auto [it, added] = index.emplace(p, static_cast<int64_t>(distinct.size()));
    if (added) distinct.push_back(p);
    prompt_of.push_back(it->second);
  }
  PromptCompletionBatch batch;
  batch.prompts = make_token_batch(distinct, device);
  batch.completions = make_token_batch(completions, device);
  batch.prompt_of = at::tensor(prompt_of, at::kLong).to(device);
  if (!padding_free) return batch;
  auto lengths_of = [](const std::vector<std::vector<int64_t>>& rows) {
    std::vector<int64_t> out;
    for (const auto& r : rows) out.push_back(static_cast<int64_t>(r.size()));
    return out;
  };
  const int64_t C = batch.completions.ids.size(1), N = static_cast<int64_t>(completions.size());
  std::vector<int64_t> prompt_tokens = packed_positions(lengths_of(distinct), batch.prompts.ids.size(1));
  std::vector<int64_t> lengths = lengths_of(completions), input_lengths;
  for (int64_t len : lengths) input_lengths.push_back(std::max<int64_t>(0, len - 1));
  std::vector<int64_t> completion_tokens = packed_positions(lengths, C);
  std::vector<int64_t> predicted_from;  // a first token: its row n; any other: the input token before it
  int64_t inputs_before = 0;            // packed input tokens of the rows before row n
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t t = 0; t < lengths[n]; ++t) predicted_from.push_back(t == 0 ? n : N + inputs_before + t - 1);
    inputs_before += input_lengths[n];
  }
  auto on_device = [&](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).to(device); };
  if (static_cast<int64_t>(prompt_tokens.size()) < batch.prompts.ids.numel())
    batch.prompt_tokens = on_device(prompt_tokens);
  if (static_cast<int64_t>(completion_tokens.size()) < N * C) {
    batch.completion_tokens = on_device(completion_tokens);
    batch.input_tokens = on_device(packed_positions(input_lengths, C));
    batch.predicted_from = on_device(predicted_from);
  }
  return batch;
}

namespace {

// The two passes of completion scoring. last_prompt [N, hidden]: the last
// state of each completion's prompt; hidden: the completion tokens'
// states that predict a next completion token. A completion's last token
// predicts none and no later token attends to it, so it is not run (only
// with MoE routing, which is recorded and replayed per padded position, do
// all C run): [Ti, hidden] packed (batch.input_tokens), else [N, C - 1,
// hidden] ([N, C, hidden] with routing).
struct CompletionStates {
  at::Tensor last_prompt, hidden;
  bool packed = false;
};

CompletionStates completion_states(const Transformer& model, const PromptCompletionBatch& batch,
                                   PromptCompletionRouting* routing) {
  const at::Tensor& lengths = batch.prompts.lengths;
  int64_t K = batch.prompts.ids.size(0), P = batch.prompts.ids.size(1);
  int64_t N = batch.completions.ids.size(0), C = batch.completions.ids.size(1);
  // Routes are recorded and replayed per padded position.
  const at::Tensor prompt_tokens = routing ? at::Tensor() : batch.prompt_tokens;
  const at::Tensor input_tokens = routing ? at::Tensor() : batch.input_tokens;
  // The distinct prompts, keeping their keys/values in the graph.
  KVCache prefix;
  at::Tensor prompt_positions = at::arange(P, lengths.options()).unsqueeze(0).expand({K, P});
  at::Tensor prompt_hidden = model.forward(batch.prompts.ids, prompt_positions, causal_padding_mask(lengths, P),
                                           AttentionKV::collect(&prefix), routing ? &routing->prompts : nullptr,
                                           prompt_tokens);
  // Each prompt's last token, as a row of the packed or the flattened padded states.
  at::Tensor last = prompt_tokens.defined() ? at::cumsum(lengths, 0) - 1
                                            : at::arange(K, lengths.options()) * P + lengths - 1;
  at::Tensor last_prompt = pack_tokens(prompt_hidden, last).index_select(0, batch.prompt_of);  // [N, H]
  // The completions' columns the forward reads, each row reading its
  // prompt's keys first: [N, L, P + L]. Packed, the indices leave the last
  // tokens out; padded, the last column goes.
  const int64_t L = routing || input_tokens.defined() ? C : C - 1;
  if (input_tokens.defined() ? input_tokens.numel() == 0 : L == 0) {  // every completion is one token long
    at::Tensor none = input_tokens.defined() ? last_prompt.narrow(0, 0, 0) : last_prompt.unsqueeze(1).narrow(1, 0, 0);
    return {last_prompt, none, input_tokens.defined()};
  }
  at::Tensor ids = batch.completions.ids.narrow(1, 0, L);
  at::Tensor prompt_length = lengths.index_select(0, batch.prompt_of);  // [N]
  at::Tensor positions = prompt_length.unsqueeze(1) + at::arange(L, lengths.options()).unsqueeze(0);
  at::Tensor prompt_keys = at::arange(P, lengths.options()).unsqueeze(0) < prompt_length.unsqueeze(1);  // [N, P]
  at::Tensor allowed = at::cat(
      {prompt_keys.unsqueeze(1).expand({N, L, P}), causal_padding_mask(batch.completions.lengths, L)}, 2);
  at::Tensor hidden = model.forward(ids, positions, allowed, AttentionKV::after_prefix(&prefix, batch.prompt_of),
                                    routing ? &routing->completions : nullptr, input_tokens);
  return {last_prompt, hidden, input_tokens.defined()};
}

// The state predicting each completion token, [N, C, hidden]: the prompt's
// last for token 0, then token t - 1's.
at::Tensor predicting_states(const CompletionStates& s, const PromptCompletionBatch& batch) {
  int64_t N = batch.completions.ids.size(0), C = batch.completions.ids.size(1);
  at::Tensor hidden = s.packed ? unpack_tokens(s.hidden, batch.input_tokens, N, C) : s.hidden;
  return at::cat({s.last_prompt.unsqueeze(1), hidden.narrow(1, 0, C - 1)}, 1);
}

}  // namespace

at::Tensor completion_hidden(const Transformer& model, const PromptCompletionBatch& batch,
                             PromptCompletionRouting* routing) {
  return predicting_states(completion_states(model, batch, routing), batch);
}

at::Tensor completion_logprobs(const Transformer& model, const PromptCompletionBatch& batch, double temperature,
                               at::Tensor* entropy, PromptCompletionRouting* routing) {
  int64_t N = batch.completions.ids.size(0), C = batch.completions.ids.size(1);
  CompletionStates s = completion_states(model, batch, routing);
  if (s.packed) {  // scored at the real tokens only, then spread into [N, C]
    at::Tensor predicting = at::cat({s.last_prompt, s.hidden}).index_select(0, batch.predicted_from);  // [Tc, H]
    at::Tensor targets = batch.completions.ids.reshape({-1}).index_select(0, batch.completion_tokens);
    at::Tensor logprobs =
        chunked_target_logprobs(predicting, model.lm_head_weight(), targets, temperature, entropy);
    auto spread = [&](const at::Tensor& t) {
      return unpack_tokens(t.unsqueeze(1), batch.completion_tokens, N, C).view({N, C});
    };
    if (entropy) *entropy = spread(*entropy);
    return spread(logprobs);
  }
  at::Tensor logprobs =
      target_logprobs(model, predicting_states(s, batch), batch.completions.ids, temperature, entropy);
  const at::Tensor& lengths = batch.completions.lengths;
  at::Tensor valid = at::arange(C, lengths.options()).unsqueeze(0) < lengths.unsqueeze(1);
  if (entropy) *entropy = *entropy * valid;
  return logprobs * valid;
}

}  // namespace r1
