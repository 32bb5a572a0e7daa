// The distillation losses from the two models' final hidden states, over
// chunks of rows (as model/chunked_logprobs.h does for log-probs): neither
// model's [positions, vocab] logits exist at once. With a 152k vocabulary, 8
// sequences of 1,024 tokens would otherwise hold 5 GB of fp32 logits per
// model, plus their log-softmax and gradient.
//
// The loss is a fixed weighting of the positions, so its gradient is
// computed chunk by chunk in the forward (as Liger's fused linear
// cross-entropy does) and only scaled in the backward: no chunk's logits are
// computed twice.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace r1 {

enum class KlDirection {
  forward,  // KL(teacher || student): logit distillation (Hinton et al.)
  reverse,  // KL(student || teacher): on-policy distillation (GKD at beta 1)
};

// Per position r, with p = softmax(logits / temperature):
//   loss = kl_weight * sum_r KL_r + ce_weight * sum_r CE_r
// KL in `direction` at the temperature, CE = -log p_student(label) at
// temperature 1. The terms per position come back too, without gradient.
struct DistillLoss {
  at::Tensor loss;     // 0-dim fp32, differentiable in the student's hidden states and head
  at::Tensor kl;       // [R] fp32
  at::Tensor ce;       // [R] fp32; zeros without labels
  at::Tensor entropy;  // [R] fp32, the student's at the temperature
};

// student_hidden [R, H] with its LM head [V, H]; teacher_hidden [R, Ht] with
// its head [V, Ht] (no grad: the teacher is fixed); labels [R] int64 or
// undefined (then ce_weight is not read); the weights are 0-dim tensors (a
// step's token count may live on the device). Rows go rows_per_chunk at a
// time (<= 0: about 2^24 logits per chunk, 2^27 on a GPU). Equal to the full
// computation (log_softmax, kl_divergence, cross-entropy) within fp32 rounding.
DistillLoss chunked_distill_loss(const at::Tensor& student_hidden, const at::Tensor& student_head,
                                 const at::Tensor& teacher_hidden, const at::Tensor& teacher_head,
                                 KlDirection direction, double temperature, const at::Tensor& kl_weight,
                                 const at::Tensor& labels = {}, const at::Tensor& ce_weight = {},
                                 int64_t rows_per_chunk = 0);

}  // namespace r1
