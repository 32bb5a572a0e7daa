#include "grpo/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "grpo/grpo_config.h"

namespace r1 {

int64_t resolved_warmup_steps(double warmup_steps, int64_t total_steps) {
  if (warmup_steps >= 1) return static_cast<int64_t>(warmup_steps);
  return static_cast<int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_steps));
}

Result<double> lr_multiplier(std::string_view type, int64_t step, int64_t warmup_steps, int64_t total_steps) {
  bool known = type == "linear" || type == "cosine" || type == "constant" || type == "constant_with_warmup";
  if (!known)
    return Status::error("lr_scheduler_type must be linear, cosine, constant or constant_with_warmup, got '" +
                         std::string(type) + "'");
  if (type == "constant") return 1.0;
  if (step < warmup_steps) return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps));
  if (type == "constant_with_warmup") return 1.0;
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
  if (type == "linear") return std::max(0.0, static_cast<double>(total_steps - step) / decay_steps);
  double progress = static_cast<double>(step - warmup_steps) / decay_steps;
  return std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));  // cosine, num_cycles 0.5
}

Result<double> learning_rate_at(const GRPOConfig& config, int64_t step, int64_t total_steps) {
  R1_ASSIGN_OR_RETURN(double m, lr_multiplier(config.lr_scheduler_type, step,
                                              resolved_warmup_steps(config.warmup_steps, total_steps), total_steps));
  return config.learning_rate * m;
}

}  // namespace r1
