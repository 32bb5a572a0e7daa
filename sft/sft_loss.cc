#include "sft/sft_loss.h"

#include "model/chunked_logprobs.h"
#include "model/layer_ops.h"

namespace r1 {

at::Tensor target_hidden(const Transformer& model, const SftBatch& batch) {
  return pack_tokens(model.forward(batch.ids, batch.positions, batch.allowed, {}, nullptr, batch.packed),
                     batch.targets);
}

// Chunked (model/chunked_logprobs.h): a large vocabulary's logits are never all built.
at::Tensor sft_loss_sum(const Transformer& model, const SftBatch& batch) {
  return -chunked_target_logprobs(target_hidden(model, batch), model.lm_head_weight(), batch.target_labels, 1.0).sum();
}

}  // namespace r1
