// The SFT loss on one batch: next-token cross-entropy at the batch's target
// positions. Also the building blocks distill/distill_loss.h adds its KL to.
#pragma once

#include <ATen/ATen.h>

#include "model/transformer.h"
#include "sft/sft_data.h"

namespace r1 {

// Final hidden states [targets, hidden] at the batch's target positions
// (batch.targets; their labels are batch.target_labels): only those need
// the [*, vocab] head, so prompts cost no logits. Padding-free: padded
// positions cost no compute but attention's.
at::Tensor target_hidden(const Transformer& model, const SftBatch& batch);

// Sum over the batch's targets of -log p(label) in fp32. Differentiable.
at::Tensor sft_loss_sum(const Transformer& model, const SftBatch& batch);

}  // namespace r1
