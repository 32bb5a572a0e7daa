#include "grpo/advantages.h"

#include <ATen/ATen.h>

#include <map>

#include "util/registry.h"

namespace r1 {
namespace {

Status check_rewards(const at::Tensor& rewards, const AdvantageOptions& options) {
  if (!rewards.defined() || rewards.dim() != 1 || !rewards.is_floating_point())
    return Status::error("advantages: rewards must be a 1-D floating tensor [B*G]");
  if (options.num_generations < 1)
    return Status::error("advantages: num_generations must be >= 1, got " + std::to_string(options.num_generations));
  if (rewards.numel() == 0 || rewards.numel() % options.num_generations != 0)
    return Status::error("advantages: rewards has " + std::to_string(rewards.numel()) +
                         " entries, expected a positive multiple of num_generations=" +
                         std::to_string(options.num_generations));
  return {};
}

// TRL's nanstd: Bessel-corrected std ignoring NaNs; NaN where fewer than two values.
at::Tensor nanstd(const at::Tensor& x, std::optional<int64_t> dim) {
  at::OptionalIntArrayRef dims = dim ? at::OptionalIntArrayRef(*dim) : at::OptionalIntArrayRef();
  at::Tensor mean = at::nanmean(x, dims, /*keepdim=*/true);
  at::Tensor variance = at::nanmean((x - mean).pow(2), dims, /*keepdim=*/true);
  at::Tensor count = (~at::isnan(x)).sum(dims, /*keepdim=*/true).to(x.scalar_type());
  at::Tensor correction = at::where(count > 1, count / (count - 1), at::full_like(count, NAN));
  at::Tensor std = at::sqrt(variance * correction);
  return dim ? std.squeeze(*dim) : std.squeeze();
}

// [B*G] → [B] standard deviations (zeros when G == 1, as TRL does in eval).
at::Tensor group_stds(const at::Tensor& grouped) {
  if (grouped.size(1) < 2) return at::zeros({grouped.size(0)}, grouped.options());
  return nanstd(grouped, 1);
}

AdvantageOutput finish(at::Tensor advantages, const at::Tensor& std_per_sample, const at::Tensor& group_std) {
  AdvantageOutput out;
  out.advantages = at::nan_to_num(advantages, 0.0);
  out.std_zero = at::isclose(std_per_sample, at::zeros_like(std_per_sample));
  out.group_std_zero = at::isclose(group_std, at::zeros_like(group_std));
  out.group_std = group_std;
  out.frac_reward_zero_std = out.std_zero.to(at::kFloat).mean();
  return out;
}

}  // namespace

Result<AdvantageOutput> grpo_advantages(const at::Tensor& rewards, const AdvantageOptions& options) {
  R1_RETURN_IF_ERROR(check_rewards(rewards, options));
  const int64_t g = options.num_generations;
  at::Tensor grouped = rewards.view({-1, g});                                         // [B, G]
  at::Tensor mean = at::nanmean(grouped, 1).repeat_interleave(g);                     // [B*G]
  at::Tensor group_std = group_stds(grouped);                                         // [B]
  at::Tensor std;                                                                     // [B*G]
  if (options.scale_rewards == "group" || options.scale_rewards == "none") {
    std = group_std.repeat_interleave(g);
  } else if (options.scale_rewards == "batch") {
    std = rewards.numel() > 1 ? nanstd(rewards, std::nullopt).expand_as(rewards) : at::zeros_like(rewards);
  } else {
    return Status::error("advantages: scale_rewards must be 'group', 'batch' or 'none', got '" +
                         options.scale_rewards + "'");
  }
  at::Tensor advantages = rewards - mean;
  if (options.scale_rewards != "none") advantages = advantages / (std + options.eps);
  return finish(advantages, std, group_std);
}

Result<AdvantageOutput> rloo_advantages(const at::Tensor& rewards, const AdvantageOptions& options) {
  R1_RETURN_IF_ERROR(check_rewards(rewards, options));
  const int64_t g = options.num_generations;
  at::Tensor grouped = rewards.view({-1, g});  // [B, G]
  at::Tensor group_std = group_stds(grouped);  // [B]
  at::Tensor advantages;
  if (g > 1) {
    // Baseline over the scorable siblings only; a lone scorable completion gives 0/0 → NaN → 0.
    at::Tensor count = (~at::isnan(grouped)).sum(1, /*keepdim=*/true).to(rewards.scalar_type());
    at::Tensor sum = at::nansum(grouped, 1, /*keepdim=*/true);
    at::Tensor baseline = ((sum - grouped) / (count - 1)).view(-1);
    advantages = rewards - baseline;
  } else {
    advantages = at::zeros_like(rewards);
  }
  return finish(advantages, group_std.repeat_interleave(g), group_std);
}

namespace {
const Registry<AdvantageFn>& estimators() {
  static const Registry<AdvantageFn> registry = {
      {"grpo", grpo_advantages},
      {"rloo", rloo_advantages},
  };
  return registry;
}
}  // namespace

Result<AdvantageFn> advantage_estimator(std::string_view name) {
  return registry_lookup(estimators(), name, "advantage estimator");
}

std::vector<std::string> advantage_estimator_names() { return registry_names(estimators()); }

}  // namespace r1
