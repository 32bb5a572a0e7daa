// The "code" spec checker: the program in the completion is run against the
// row's tests in the bubblewrap sandbox (reward/code_checker.h); the score is
// the share of tests passed, with per-test results in the details.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "reward/checker_params.h"
#include "reward/reward_checker.h"

namespace r1 {

// open-r1's extract_code: the last "```python\n(.*?)```" block (DOTALL), or
// "" when there is none.
std::string extract_python_block(std::string_view completion);

// Params: format ("generic": row field "tests" as in docs/code_sandbox.md;
// "humaneval"; "mbpp"), extract ("python_block" or "none": the whole
// completion is the program), timeout_s (per test), memory_mb.
Result<std::unique_ptr<RewardChecker>> make_code_checker(CheckerParams& params);

}  // namespace r1
