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

// The pieces other chunked heads share (distill/chunked_kl.h).
namespace logit_chunks {

// Rows per chunk: rows_per_chunk when > 0, else about 2^24 fp32 logits of
// `vocab` (2^27 on a GPU).
int64_t rows_per_chunk(const at::Tensor& hidden, int64_t vocab, int64_t rows_per_chunk);

// fp32 logits [n, V] of rows [begin, begin + n) of hidden [R, H], / temperature.
at::Tensor logits(const at::Tensor& hidden, const at::Tensor& weight, int64_t begin, int64_t n, double temperature);

// The backward's products for the chunk's fp32 logit gradient d_logits [n, V]:
// grad_weight [V, H] fp32 += d_logits^T rows, and rows [begin, begin + n) of
// grad_hidden = d_logits weight.
void add_gradients(const at::Tensor& d_logits, const at::Tensor& hidden, const at::Tensor& weight, int64_t begin,
                   at::Tensor& grad_weight, at::Tensor& grad_hidden);

}  // namespace logit_chunks

}  // namespace r1
