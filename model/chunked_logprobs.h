// Log-probabilities of target tokens under softmax(hidden W^T / temperature),
// computed over chunks of rows so that the fp32 [rows, vocab] logits of all
// rows never exist at once: not in the forward, and not kept for the
// backward, which recomputes each chunk's logits from the hidden states.
// With Qwen2.5's 152k vocabulary the logits of 8 sequences of 1,024 tokens
// would take 5 GB in fp32; chunked, one chunk's (64 MB by default, 512 MB on a GPU).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace r1 {

// hidden [R, H] and weight [V, H] in one dtype (the LM head's), targets [R]
// int64. Returns [R] fp32 log p(targets[r]) (differentiable in hidden and
// weight); with `entropy`, fills it with [R] fp32 entropies (no grad).
// Rows go `rows_per_chunk` at a time (<= 0: about 2^24 logits per chunk, 2^27 on a GPU).
at::Tensor chunked_target_logprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                   double temperature, at::Tensor* entropy = nullptr, int64_t rows_per_chunk = 0);

}  // namespace r1
