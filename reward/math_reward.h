// The "math" spec checker: reward/math_checker.h's check_math_answer on the
// completion against the row's gold answer; 1.0 when equal, else 0.0.
#pragma once

#include <memory>

#include "reward/checker_params.h"
#include "reward/reward_checker.h"

namespace r1 {

// Params: answer_field ("answer"; string or number), last_number_fallback,
// decimal_comma, allow_set_relation_comp, rel_tolerance, timeout_ms (see
// MathOptions).
Result<std::unique_ptr<RewardChecker>> make_math_checker(CheckerParams& params);

}  // namespace r1
