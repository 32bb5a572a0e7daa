// Equations, inequalities and their chains: when two relations state the same
// thing, and the interval an inequality describes. Rules in
// docs/math_checker.md ("Relations").
#pragma once

#include <string>
#include <vector>

#include "reward/math_ast.h"
#include "reward/math_equivalence.h"

namespace r1 {

// The operators of a kRelation node, one per link: "a < b <= c" -> {"<", "<="}.
std::vector<std::string> relation_ops(const Node& relation);

// Every link is "=" ("x = 5", "x = 2 + 3 = 5").
bool is_equality(const Node& node);

// An equality whose left side is one symbol: "x = 5", "k = 2 + 1 = 3".
bool is_assignment(const Node& node);

// Both relations state the same: equations up to a non-zero factor
// ("y = 2x + 3", "2x - y + 3 = 0"); inequalities with sides swapped or negated
// or scaled by a positive factor ("x \le 5", "5 \ge x", "-x \ge -5",
// "2x \le 10"); chains link by link, read in either direction.
bool relations_equal(const Node& gold, const Node& pred, CompareContext& ctx);

// The interval of a one-variable inequality: "x < 5" -> (-inf, 5),
// "5 \le x" -> [5, inf), "-2 \le x < 7" -> [-2, 7); nullptr when the relation
// is no such inequality.
NodePtr relation_as_interval(const Node& relation);

}  // namespace r1
