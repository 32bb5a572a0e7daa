#include "distill/on_policy_loss.h"

#include "distill/distill_loss.h"

namespace r1 {

at::Tensor reverse_kl_loss(const at::Tensor& log_student, const at::Tensor& log_teacher, const at::Tensor& mask,
                           const at::Tensor& num_tokens) {
  at::Tensor kl = kl_divergence(log_student, log_teacher.detach());  // [B,T]
  return (kl * mask.to(kl.scalar_type())).sum() / num_tokens.clamp_min(1);
}

}  // namespace r1
