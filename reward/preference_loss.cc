#include "reward/preference_loss.h"

namespace r1 {

at::Tensor preference_pair_losses(const at::Tensor& chosen, const at::Tensor& rejected, const at::Tensor& margin,
                                  const PreferenceLossOptions& options) {
  at::Tensor gap = chosen - rejected;                        // [N]
  if (margin.defined()) gap = gap - margin.to(gap.scalar_type());
  at::Tensor losses = -at::log_sigmoid(gap);                 // [N]
  if (options.center_rewards_coefficient != 0.0)
    losses = losses + options.center_rewards_coefficient * (chosen + rejected).pow(2);
  return losses;
}

}  // namespace r1
