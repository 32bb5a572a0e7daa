// Equality of parsed answers, gold first: the gold answer's shape decides
// which comparison applies (see docs/math_checker.md).
#pragma once

#include "reward/math_ast.h"
#include "reward/math_checker.h"
#include "reward/math_deadline.h"

namespace r1 {

struct CompareContext {
  const MathOptions& options;
  const Deadline& deadline;
  bool timed_out = false;
};

bool answers_equal(const Node& gold, const Node& pred, CompareContext& ctx);

// Two expressions (no tuples, sets, relations) denote the same value.
bool expressions_equal(const Node& gold, const Node& pred, CompareContext& ctx);

}  // namespace r1
