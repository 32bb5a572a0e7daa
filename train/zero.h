// ZeRO stage 1 (the zero_stage key, DeepSpeed's name): AdamW's fp32 master
// weights and moments sharded over the ranks of a data-parallel run. Every
// rank still holds the whole model and its all-reduced gradients; each
// keeps the optimizer state of the tensors it owns (about 1/N of the
// model's elements), steps only those, and broadcasts them, so that every
// rank again holds identical weights. Per parameter a rank then holds 2
// (bf16 weights) + 4 (fp32 gradients) + 12/N bytes instead of 18: what
// lets a 7B policy fit on 80 GB GPUs at N = 8 (docs/distributed.md).
//
// The step equals the unsharded one bit for bit: the same gradients, the
// same global norm (every rank computes it from all of them, in one order)
// and the same per-element AdamW arithmetic; a broadcast copies values.
#pragma once

#include <vector>

#include "model/safetensors.h"
#include "model/transformer.h"
#include "train/optimizer.h"
#include "train/process_group.h"
#include "train/train_state.h"
#include "util/status.h"

namespace r1 {

// The rank that owns each of the model's tensors (Transformer::tensors()
// order), balanced by element count (balanced_owners): every rank computes
// the same.
std::vector<int> zero_owners(const Transformer& model, int64_t ranks);

// The trainers' AdamW options for the zero_stage key: sharded over `group`
// with stage 1, else (stage 0, or one process) left whole.
AdamWOptions with_zero_stage(AdamWOptions options, int64_t zero_stage, const Transformer& model,
                             const ProcessGroup* group);

// The trainers' optimizer step (after clipping): AdamW::step and, with a
// sharded optimizer, each rank's stepped tensors broadcast from it, in rank
// order, so that every rank holds the whole updated model. `group` may be
// null only for an unsharded optimizer (checked before stepping).
Status step_optimizer(AdamW& optimizer, double lr, ProcessGroup* group);

// The optimizer state a checkpoint holds, with its step count: the same
// tensors as an unsharded AdamW's state_tensors(), whatever the sharding,
// so that a checkpoint resumes with or without it. Sharded, rank 0
// receives every rank's share (sent from it to rank 0 alone, tensor by
// tensor, each copied to host memory, so a GPU never holds more than one
// extra tensor) and the others return their own; every rank must call it.
Result<OptimizerCheckpoint> checkpoint_optimizer_state(ProcessGroup* group, const AdamW& optimizer);

}  // namespace r1
