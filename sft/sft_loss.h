// The SFT loss on one batch: next-token cross-entropy at the batch's target
// positions. Also the building blocks distill/distill_loss.h adds its KL to.
#pragma once

#include <ATen/ATen.h>

#include "model/transformer.h"
#include "sft/sft_data.h"

namespace r1 {

// Flat indices [targets] of the batch's target positions (labels != -100).
at::Tensor target_positions(const at::Tensor& flat_labels);

// Final hidden states [targets, hidden] at `keep`: only those need the
// [*, vocab] head, so prompts cost no logits.
at::Tensor target_hidden(const Transformer& model, const SftBatch& batch, const at::Tensor& keep);

// Sum over the batch's targets of -log p(label) in fp32. Differentiable.
at::Tensor sft_loss_sum(const Transformer& model, const SftBatch& batch);

}  // namespace r1
