// The parsed form of one normalised LaTeX answer: a small expression tree
// plus the answer-level structures (tuples, sets, intervals, matrices,
// relations). Parsing never throws; it fails with a reason.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

enum class NodeKind {
  kNumber,    // text = digits as written ("12", "0.5", "3e5"); is_float for decimals
  kSymbol,    // text = name ("x", "x_1")
  kConst,     // text = "pi", "i", "inf"
  kAdd,       // kids summed
  kMul,       // kids multiplied
  kDiv,       // kids[0] / kids[1]
  kPow,       // kids[0] ^ kids[1]
  kNeg,       // -kids[0]
  kFunc,      // text = function name, kids = arguments
  kPercent,   // kids[0] percent
  kPlusMinus, // kids[0] ± kids[1] (kids.size()==1: ±kids[0])
  kTuple,     // "(a, b)"
  kList,      // "a, b" without brackets
  kSet,       // "\{a, b\}"
  kInterval,  // kids = {lo, hi}; left_open / right_open
  kUnion,     // kids are intervals or sets
  kMatrix,    // rows x cols, kids row-major
  kRelation,  // text = "=", "<", "<=", ">", ">=", "!="; kids = chain operands
  kText,      // text = lower-cased words without spaces
  kChoice,    // text = one capital letter
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct Node {
  NodeKind kind;
  std::string text;
  std::vector<NodePtr> kids;
  bool is_float = false;
  bool left_open = false, right_open = false;
  int rows = 0, cols = 0;
};

NodePtr make_node(NodeKind kind, std::vector<NodePtr> kids = {}, std::string text = "");

struct ParseLimits {
  size_t max_chars = 2000;   // longer answers are rejected, not parsed
  int max_depth = 100;       // nesting of brackets/operators
};

// Parses a normalised answer (see math_normalize.h).
Result<NodePtr> parse_answer(std::string_view normalized, const ParseLimits& limits);

// Counts nodes; used to bound work handed to the CAS.
size_t node_count(const Node& node);
bool contains_float(const Node& node);
void collect_symbols(const Node& node, std::vector<std::string>& out);
std::string debug_string(const Node& node);

}  // namespace r1
