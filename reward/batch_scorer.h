// Scores many inputs with one RewardFunction on a bounded set of threads.
// Results are in input order and identical to scoring one by one.
#pragma once

#include <vector>

#include "reward/reward_spec.h"

namespace r1 {

// `workers` <= 0 means one per hardware thread; never more than inputs.
// On errors, the error of the lowest-indexed failing input is returned, so
// the outcome does not depend on thread timing.
Result<std::vector<RewardResult>> score_batch(const RewardFunction& fn, const std::vector<RewardInput>& inputs,
                                              int workers);

}  // namespace r1
