// A small, safe evaluator for the arithmetic a Countdown answer may contain:
// numbers, + - * /, unary signs, parentheses and whitespace. It replaces
// TinyZero's restricted Python eval() without running any code.
#pragma once

#include <string_view>

#include "util/status.h"

namespace r1 {

// The value of `expr` in double precision, as Python 3 would compute it with
// true division. Errors (with the byte offset) on anything else: other
// characters, "**" or "//", juxtaposed operands, division by zero, integer
// literals with leading zeros (a SyntaxError in Python 3), nesting deeper
// than 200 parentheses.
Result<double> evaluate_arithmetic(std::string_view expr);

}  // namespace r1
