#include "distill/on_policy_loss.h"

#include "distill/distill_loss.h"

namespace r1 {

at::Tensor reverse_kl_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits, const at::Tensor& mask,
                           const at::Tensor& num_tokens, double temperature) {
  at::Tensor log_s = (student_logits.to(at::kFloat) / temperature).log_softmax(-1);  // [B,T,V]
  at::Tensor log_t = (teacher_logits.to(at::kFloat) / temperature).log_softmax(-1).detach();
  at::Tensor kl = kl_divergence(log_s, log_t);  // [B,T]
  return (kl * mask.to(kl.scalar_type())).sum() / num_tokens.clamp_min(1);
}

}  // namespace r1
