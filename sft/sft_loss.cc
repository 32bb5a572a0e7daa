#include "sft/sft_loss.h"

#include "model/chunked_logprobs.h"

namespace r1 {

at::Tensor target_positions(const at::Tensor& flat_labels) { return (flat_labels != -100).nonzero().squeeze(1); }

at::Tensor target_hidden(const Transformer& model, const SftBatch& batch, const at::Tensor& keep) {
  at::Tensor hidden = model.forward(batch.ids, batch.positions, batch.allowed);
  return hidden.reshape({-1, hidden.size(-1)}).index_select(0, keep);
}

// Chunked (model/chunked_logprobs.h): a large vocabulary's logits are never all built.
at::Tensor sft_loss_sum(const Transformer& model, const SftBatch& batch) {
  at::Tensor labels = batch.labels.reshape({-1});
  at::Tensor keep = target_positions(labels);
  at::Tensor h = target_hidden(model, batch, keep);
  return -chunked_target_logprobs(h, model.lm_head_weight(), labels.index_select(0, keep), 1.0).sum();
}

}  // namespace r1
