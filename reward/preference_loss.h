// The Bradley-Terry loss of reward modelling over preference pairs, as TRL's
// RewardTrainer computes it (its margin and center_rewards_coefficient
// included). A pure tensor function: the trainer supplies the scores.
#pragma once

#include <ATen/ATen.h>

namespace r1 {

struct PreferenceLossOptions {
  // Weight of mean((r_chosen + r_rejected)^2), which keeps rewards centred
  // on zero (TRL's center_rewards_coefficient; 0 = TRL's None).
  double center_rewards_coefficient = 0.0;
};

// chosen, rejected: [N] rewards of each pair's preferred and other sequence;
// margin: [N] or undefined (TRL's optional "margin" column).
// Returns [N] per-pair terms whose mean is TRL's loss:
//   -logsigmoid(chosen - rejected - margin) + c * (chosen + rejected)^2
// (a step over micro-batches sums them and divides by the step's pairs).
at::Tensor preference_pair_losses(const at::Tensor& chosen, const at::Tensor& rejected, const at::Tensor& margin,
                                  const PreferenceLossOptions& options);

}  // namespace r1
