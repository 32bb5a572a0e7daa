// Advantage estimators: pure functions from per-completion rewards to
// per-completion advantages, in the style of verl's core_algos.py.
//
// Layout: rewards is a 1-D float tensor [B*G] where the G = num_generations
// completions of one prompt sit contiguously (prompt 0's G, then prompt 1's...).
// A NaN reward marks an unscorable completion: like TRL, it is left out of the
// group statistics and gets advantage 0.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

// TRL adds this to the std before dividing (verl uses 1e-6, OpenRLHF 1e-9).
inline constexpr double kTrlAdvantageEps = 1e-4;

struct AdvantageOptions {
  int64_t num_generations = 8;         // G; rewards.numel() must be a multiple
  std::string scale_rewards = "group";  // "group" | "batch" | "none" (grpo only)
  double eps = kTrlAdvantageEps;       // added to the std (grpo only)
};

struct AdvantageOutput {
  at::Tensor advantages;       // [B*G], rewards' dtype, NaN-free
  at::Tensor std_zero;         // [B*G] bool: TRL's is_std_zero (per the std used to scale)
  at::Tensor group_std_zero;   // [B] bool: the group's rewards all equal (for dynamic sampling)
  at::Tensor group_std;        // [B] Bessel-corrected std per group (NaN if < 2 scorable)
  // TRL's metric: std_zero.float().mean(); a 0-dim tensor, no host sync.
  at::Tensor frac_reward_zero_std;
};

using AdvantageFn = std::function<Result<AdvantageOutput>(const at::Tensor& rewards, const AdvantageOptions&)>;

// "grpo": (r - mean_group) / (std + eps), std per `scale_rewards`:
//   group: Bessel std within the group; batch: Bessel std over all B*G rewards
//   (the mean stays per group, as in TRL); none: no division.
Result<AdvantageOutput> grpo_advantages(const at::Tensor& rewards, const AdvantageOptions& options);

// "rloo": r_i - mean of the other scorable rewards of the group (TRL's
// RLOOTrainer without normalize_advantages); scale_rewards and eps unused.
Result<AdvantageOutput> rloo_advantages(const at::Tensor& rewards, const AdvantageOptions& options);

// Registry: "grpo" | "rloo"; an unknown name is an error listing the known ones.
Result<AdvantageFn> advantage_estimator(std::string_view name);
std::vector<std::string> advantage_estimator_names();

}  // namespace r1
