// The `r1 rollouts summary` report: run info, totals, first-vs-last-step
// trends of reward, components and length, and resumes.
#pragma once

#include <ostream>

#include "rollout/rollout_reader.h"
#include "util/status.h"

namespace r1 {

Status print_rollouts_summary(RolloutReader& reader, std::ostream& out);

}  // namespace r1
