// Symbolic checks with GiNaC. GiNaC shares reference-counted constants
// between all expressions without atomic counts, so concurrent use corrupts
// memory: every GiNaC object here lives and dies under one process-wide
// mutex. Expressions are checked against size limits first, because a GiNaC
// call cannot be interrupted once started.
#pragma once

#include <cstddef>

#include "reward/math_ast.h"
#include "reward/math_deadline.h"

namespace r1 {

struct CasLimits {
  size_t max_nodes = 400;         // larger expressions are not handed to GiNaC
  int max_symbolic_exponent = 24; // (x+1)^n with larger n is not expanded
  int max_numeric_exponent = 256; // 2^n with larger |n| is not computed exactly
  double max_expanded_terms = 2000; // estimated size of expand(); larger is refused
};

enum class CasAnswer { kYes, kNo, kUnknown, kTimedOut };

// Whether normal(expand(a - b)) is zero.
CasAnswer cas_equal(const Node& a, const Node& b, const CasLimits& limits, const Deadline& deadline);

// Whether a / b simplifies to a non-zero constant (equations that are
// multiples of each other: "2x + 2y = 2" and "x + y = 1"); with `positive`,
// to a positive one (inequalities: "2x < 10" and "x < 5", not "-x < -5").
CasAnswer cas_proportional(const Node& a, const Node& b, const CasLimits& limits, const Deadline& deadline,
                           bool positive);

}  // namespace r1
