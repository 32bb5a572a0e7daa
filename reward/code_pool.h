// Checks many programs in parallel with bounded concurrency: at most
// `workers` sandbox runs at once (each problem's runs are sequential).
#pragma once

#include <functional>
#include <vector>

#include "reward/code_checker.h"

namespace r1 {

// 0 = the number of cores.
int default_code_workers(int workers);

// Results come back in input order. `on_done(i)` (optional) is called from a
// worker thread after problem i finished, for progress reporting.
std::vector<Result<CheckResult>> check_code_batch(const std::vector<CodeProblem>& problems,
                                                  const CodeCheckOptions& options, int workers,
                                                  const std::function<void(size_t)>& on_done = {});

}  // namespace r1
