// Learning-rate schedules of transformers' get_scheduler (the ones GRPOConfig
// accepts), as pure functions of the optimizer step, so a C++ run follows the
// same curve as a TRL run with the same settings.
#pragma once

#include <cstdint>
#include <string_view>

#include "util/status.h"

namespace r1 {

struct GRPOConfig;

// transformers' TrainingArguments.get_warmup_steps: whole steps when >= 1,
// else ceil(total_steps × ratio).
int64_t resolved_warmup_steps(double warmup_steps, int64_t total_steps);

// Multiplier of the peak rate before optimizer step `step` (0-based: the
// number of steps already taken), for type linear | cosine (half cycle) |
// constant (no warmup, as in transformers) | constant_with_warmup.
Result<double> lr_multiplier(std::string_view type, int64_t step, int64_t warmup_steps, int64_t total_steps);

// learning_rate × lr_multiplier(lr_scheduler_type, ...) with the config's warmup.
Result<double> learning_rate_at(const GRPOConfig& config, int64_t step, int64_t total_steps);

}  // namespace r1
