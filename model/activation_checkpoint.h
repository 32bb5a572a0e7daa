// Activation checkpointing: a function whose intermediate tensors are not
// kept for the backward. The forward runs it without grad and keeps only its
// inputs; the backward runs it again with grad and differentiates that run
// (the "reentrant" checkpoint of torch.utils.checkpoint). Peak memory then
// holds one layer's activations at a time instead of every layer's, for one
// extra forward per layer.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <vector>

namespace r1 {

// fn maps the activations to its outputs and may read the weights by itself
// (listing them routes their gradients). It runs twice, so it must be
// deterministic and its side effects harmless to repeat; integer outputs
// are returned but carry no gradient.
using CheckpointedFn = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>& activations)>;

std::vector<at::Tensor> checkpointed(CheckpointedFn fn, const std::vector<at::Tensor>& activations,
                                     const std::vector<at::Tensor>& weights);

}  // namespace r1
