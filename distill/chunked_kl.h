// The distillation losses' per-position terms from the two models' final
// hidden states, over chunks of rows (as model/chunked_logprobs.h does for
// log-probs): neither model's [positions, vocab] logits exist at once, nor
// are they kept for the backward, which recomputes each chunk's. With a 152k
// vocabulary, 8 sequences of 1,024 tokens would otherwise hold 5 GB of fp32
// logits per model, plus their log-softmax and gradient.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace r1 {

enum class KlDirection {
  forward,  // KL(teacher || student): logit distillation (Hinton et al.)
  reverse,  // KL(student || teacher): on-policy distillation (GKD at beta 1)
};

// Per position r, with p = softmax(logits / temperature):
struct DistillTerms {
  at::Tensor kl;       // [R] fp32 KL in `direction`; differentiable in the student
  at::Tensor ce;       // [R] fp32 -log p_student(label) at temperature 1; zeros without labels
  at::Tensor entropy;  // [R] fp32 the student's entropy (no grad)
};

// student_hidden [R, H] with its LM head [V, H] (differentiable in both),
// teacher_hidden [R, Ht] with its head [V, Ht] (no grad: the teacher is
// fixed), labels [R] int64 or undefined. Rows go rows_per_chunk at a time
// (<= 0: about 2^24 logits per chunk, 2^27 on a GPU). Equal to the full
// computation (log_softmax, kl_divergence, cross-entropy) within fp32 rounding.
DistillTerms chunked_distill_terms(const at::Tensor& student_hidden, const at::Tensor& student_head,
                                   const at::Tensor& teacher_hidden, const at::Tensor& teacher_head,
                                   KlDirection direction, double temperature, const at::Tensor& labels = {},
                                   int64_t rows_per_chunk = 0);

}  // namespace r1
