#include "model/scoring.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace r1 {

TokenBatch make_token_batch(const std::vector<std::vector<int64_t>>& sequences) {
  int64_t B = static_cast<int64_t>(sequences.size()), L = 1;
  for (const auto& s : sequences) L = std::max<int64_t>(L, s.size());
  TokenBatch batch{at::zeros({B, L}, at::kLong), at::zeros({B}, at::kLong)};
  int64_t* ids = batch.ids.data_ptr<int64_t>();
  int64_t* lengths = batch.lengths.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    std::copy(sequences[b].begin(), sequences[b].end(), ids + b * L);
    lengths[b] = static_cast<int64_t>(sequences[b].size());
  }
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

at::Tensor next_token_logprobs(const Transformer& model, const TokenBatch& batch, double temperature,
                               at::Tensor* entropy) {
  at::Tensor hidden = batch_hidden(model, batch);
  int64_t B = batch.ids.size(0), L = batch.ids.size(1);
  at::Tensor targets = batch.ids.narrow(1, 1, L - 1);
  std::vector<at::Tensor> rows, entropies;
  // One row at a time bounds the fp32 [L, V] logits alive at once.
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor logits = model.lm_head(hidden[b].narrow(0, 0, L - 1)).to(at::kFloat);
    if (temperature != 1.0) logits = logits / temperature;
    at::Tensor picked = logits.gather(-1, targets[b].unsqueeze(-1)).squeeze(-1);
    at::Tensor normalizer = logits.logsumexp(-1);
    rows.push_back(picked - normalizer);
    if (entropy) {
      at::NoGradGuard no_grad;
      // H = log Z - E_p[logit]
      entropies.push_back(normalizer - (at::softmax(logits, -1) * logits).sum(-1));
    }
  }
  at::Tensor valid = at::arange(1, L, batch.ids.options()).unsqueeze(0) < batch.lengths.unsqueeze(1);
  if (entropy) *entropy = at::stack(entropies) * valid;
  return at::stack(rows) * valid;
}

}  // namespace r1
