// Learning-rate schedules as pure functions of the optimizer step, with the
// formulas of transformers' get_scheduler (optimization.py). As in HF Trainer,
// the update that follows `step` completed updates uses lr_at(s, step): the
// first update of a warm-up therefore runs at lr 0.
#pragma once

#include <cstdint>
#include <string>

#include "util/status.h"

namespace r1 {

enum class LrSchedulerType { kConstant, kConstantWithWarmup, kLinear, kCosine };

struct LrSchedule {
  LrSchedulerType type = LrSchedulerType::kLinear;  // HF TrainingArguments default
  double learning_rate = 5e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;    // num_training_steps (linear and cosine decay to it)
  double min_lr_rate = 0.0;   // cosine floor as a fraction of learning_rate ("cosine_with_min_lr")
};

// The multiplier of learning_rate at `step` (transformers' lr_lambda).
double lr_factor(const LrSchedule& s, int64_t step);
inline double lr_at(const LrSchedule& s, int64_t step) { return s.learning_rate * lr_factor(s, step); }

// "constant", "constant_with_warmup", "linear", "cosine", "cosine_with_min_lr"
// (cosine with min_lr_rate; plain "cosine" has min_lr_rate 0 in transformers).
Result<LrSchedulerType> parse_lr_scheduler_type(const std::string& name);

// HF TrainingArguments.get_warmup_steps: warmup_steps when > 0, else
// ceil(warmup_ratio * total_steps).
int64_t warmup_steps_for(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

}  // namespace r1
