#include "sft/sft_loss.h"

namespace r1 {

at::Tensor target_positions(const at::Tensor& flat_labels) { return (flat_labels != -100).nonzero().squeeze(1); }

at::Tensor target_logits(const Transformer& model, const SftBatch& batch, const at::Tensor& keep) {
  at::Tensor hidden = model.forward(batch.ids, batch.positions, batch.allowed);
  at::Tensor h = hidden.reshape({-1, hidden.size(-1)}).index_select(0, keep);
  return model.lm_head(h).to(at::kFloat);
}

at::Tensor sft_loss_sum(const Transformer& model, const SftBatch& batch) {
  at::Tensor labels = batch.labels.reshape({-1});
  at::Tensor keep = target_positions(labels);
  at::Tensor logits = target_logits(model, batch, keep);
  return at::cross_entropy_loss(logits, labels.index_select(0, keep), {}, at::Reduction::Sum);
}

}  // namespace r1
