// Turns JSON rows into CodeProblems. Three row forms (--format of
// `r1 code-check`, documented in docs/code_sandbox.md):
//  generic:   {"program": str, "tests": {"io": [{"input": str, "output": str}],
//              "setup": str, "asserts": [str], "entry_point": str}} (all test
//              fields optional, at least one test)
//  humaneval: HumanEval rows; program = prompt + (completion, or
//             canonical_solution when there is no completion); test + entry_point
//  mbpp:      MBPP rows; program = completion, or code; test_setup_code +
//             test_list asserts (challenge_test_list is not used)
#pragma once

#include <string>

#include "reward/code_checker.h"
#include "util/json.h"

namespace r1 {

enum class CodeRowFormat { generic, humaneval, mbpp };

Result<CodeRowFormat> parse_code_row_format(const std::string& name);

// `where` ("file:line") prefixes every error.
Result<CodeProblem> code_problem_from_row(const JsonValue& row, CodeRowFormat format, const std::string& where);

// A row's id for output: "id", else "task_id" (string or integer), else "".
std::string code_row_id(const JsonValue& row);

}  // namespace r1
