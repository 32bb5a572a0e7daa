#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace r1 {

double lr_factor(const LrSchedule& s, int64_t step) {
  double t = static_cast<double>(step);
  if (s.type == LrSchedulerType::kConstant) return 1.0;
  if (step < s.warmup_steps) return t / static_cast<double>(std::max<int64_t>(1, s.warmup_steps));
  double decay_steps = static_cast<double>(std::max<int64_t>(1, s.total_steps - s.warmup_steps));
  switch (s.type) {
    case LrSchedulerType::kConstantWithWarmup:
      return 1.0;
    case LrSchedulerType::kLinear:
      return std::max(0.0, static_cast<double>(s.total_steps - step) / decay_steps);
    case LrSchedulerType::kCosine: {
      double progress = (t - static_cast<double>(s.warmup_steps)) / decay_steps;
      // num_cycles = 0.5: one half cosine from 1 to 0 over the decay steps.
      double factor = 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress));
      return std::max(0.0, factor * (1.0 - s.min_lr_rate) + s.min_lr_rate);
    }
    case LrSchedulerType::kConstant:
      break;
  }
  return 1.0;
}

Result<LrSchedulerType> parse_lr_scheduler_type(const std::string& name) {
  if (name == "constant") return LrSchedulerType::kConstant;
  if (name == "constant_with_warmup") return LrSchedulerType::kConstantWithWarmup;
  if (name == "linear") return LrSchedulerType::kLinear;
  if (name == "cosine" || name == "cosine_with_min_lr") return LrSchedulerType::kCosine;
  return Status::error("unknown lr_scheduler_type '" + name +
                       "' (constant, constant_with_warmup, linear, cosine, cosine_with_min_lr)");
}

int64_t warmup_steps_for(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int64_t>(std::ceil(warmup_ratio * static_cast<double>(total_steps)));
}

}  // namespace r1
