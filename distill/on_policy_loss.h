// On-policy distillation (GKD's on-policy mode; TRL's DistillationTrainer
// at beta 1): the student samples, and the loss is the reverse KL,
// KL(student || teacher), of the two models' next-token distributions at
// every completion position of those samples, exact over the vocabulary (no
// sampled-token estimate: far lower variance). A pure tensor function; the
// GRPO learner runs it in place of the policy loss when the run has a
// teacher (grpo/learner.h).
#pragma once

#include <ATen/ATen.h>

namespace r1 {

// log_student: [B,T,V] fp32 log-softmax of the student's logits / temperature
// (requires grad; the caller keeps it for the entropy metric);
// log_teacher: the same of the teacher's (same vocabulary; detached here).
// mask: [B,T] 1 on loss positions; num_tokens: 0-dim, the loss positions of
// the whole step (so micro-batches add up to the step's mean). Returns
// sum_{b,t} mask * sum_v p_s(v) (log p_s(v) - log p_t(v)) / num_tokens.
at::Tensor reverse_kl_loss(const at::Tensor& log_student, const at::Tensor& log_teacher, const at::Tensor& mask,
                           const at::Tensor& num_tokens);

}  // namespace r1
