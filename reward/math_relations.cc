#include "reward/math_relations.h"

#include <algorithm>

#include "reward/math_cas.h"

namespace r1 {
namespace {

bool is_greater(const std::string& op) { return op == ">" || op == ">="; }
bool is_less(const std::string& op) { return op == "<" || op == "<="; }

std::string flip(const std::string& op) {
  if (op == "<") return ">";
  if (op == ">") return "<";
  if (op == "<=") return ">=";
  if (op == ">=") return "<=";
  return op;
}

NodePtr minus(const NodePtr& a, const NodePtr& b) {
  return make_node(NodeKind::kAdd, {a, make_node(NodeKind::kNeg, {b})});
}

// An inequality a OP b as "d > 0" or "d >= 0": d is the greater side minus
// the smaller, so "x <= 5", "5 >= x" and "-x >= -5" all give d = 5 - x
// (up to the parser's grouping), non-strict.
struct Positive {
  NodePtr d;
  bool strict;
};

Positive as_positive(const Node& r) {
  const std::string op = relation_ops(r)[0];
  NodePtr a = r.kids[0], b = r.kids[1];
  return {is_less(op) ? minus(b, a) : minus(a, b), op == "<" || op == ">"};
}

bool cas_says(CasAnswer a, CompareContext& ctx) {
  if (a == CasAnswer::kTimedOut) ctx.timed_out = true;
  return a == CasAnswer::kYes;
}

bool single_relations_equal(const Node& g, const Node& p, CompareContext& ctx) {
  const std::string gop = relation_ops(g)[0], pop = relation_ops(p)[0];
  if (gop == "=" && pop == "=") {
    return cas_says(cas_proportional(*minus(g.kids[0], g.kids[1]), *minus(p.kids[0], p.kids[1]), ctx.options.cas,
                                     ctx.deadline, false),
                    ctx);
  }
  if (gop == "!=" && pop == "!=") {
    NodePtr dg = minus(g.kids[0], g.kids[1]);
    return expressions_equal(*dg, *minus(p.kids[0], p.kids[1]), ctx) ||
           expressions_equal(*dg, *minus(p.kids[1], p.kids[0]), ctx);
  }
  if (!(is_less(gop) || is_greater(gop)) || !(is_less(pop) || is_greater(pop))) return false;
  Positive a = as_positive(g), b = as_positive(p);
  if (a.strict != b.strict) return false;
  if (expressions_equal(*a.d, *b.d, ctx)) return true;
  return cas_says(cas_proportional(*a.d, *b.d, ctx.options.cas, ctx.deadline, true), ctx);
}

// A chain written with '>' read the other way: "3 > x > 1" is "1 < x < 3".
void ascending(const Node& r, std::vector<NodePtr>& kids, std::vector<std::string>& ops) {
  kids = r.kids;
  ops = relation_ops(r);
  if (std::none_of(ops.begin(), ops.end(), is_greater)) return;
  std::reverse(kids.begin(), kids.end());
  std::reverse(ops.begin(), ops.end());
  for (std::string& op : ops) op = flip(op);
}

bool chains_equal(const Node& g, const Node& p, CompareContext& ctx) {
  std::vector<NodePtr> gk, pk;
  std::vector<std::string> go, po;
  ascending(g, gk, go);
  ascending(p, pk, po);
  if (go != po || gk.size() != pk.size()) return false;
  for (size_t i = 0; i < gk.size(); ++i)
    if (!answers_equal(*gk[i], *pk[i], ctx)) return false;
  return true;
}

bool has_symbols(const Node& n) {
  std::vector<std::string> s;
  collect_symbols(n, s);
  return !s.empty();
}

NodePtr infinity(bool negative) {
  NodePtr inf = make_node(NodeKind::kConst, {}, "inf");
  return negative ? make_node(NodeKind::kNeg, {inf}) : inf;
}

NodePtr interval(NodePtr lo, bool lo_open, NodePtr hi, bool hi_open) {
  auto iv = std::make_shared<Node>();
  iv->kind = NodeKind::kInterval;
  iv->kids = {std::move(lo), std::move(hi)};
  iv->left_open = lo_open;
  iv->right_open = hi_open;
  return iv;
}

}  // namespace

std::vector<std::string> relation_ops(const Node& relation) {
  std::vector<std::string> ops;
  size_t start = 0;
  while (start <= relation.text.size()) {
    size_t end = relation.text.find(' ', start);
    if (end == std::string::npos) end = relation.text.size();
    ops.push_back(relation.text.substr(start, end - start));
    start = end + 1;
  }
  return ops;
}

bool is_equality(const Node& node) {
  if (node.kind != NodeKind::kRelation) return false;
  std::vector<std::string> ops = relation_ops(node);
  return std::all_of(ops.begin(), ops.end(), [](const std::string& op) { return op == "="; });
}

bool is_assignment(const Node& node) { return is_equality(node) && node.kids[0]->kind == NodeKind::kSymbol; }

bool relations_equal(const Node& g, const Node& p, CompareContext& ctx) {
  // "x = 5" and the chain "x = x = 5" both assign 5 to x.
  if (is_assignment(g) && is_assignment(p))
    return g.kids[0]->text == p.kids[0]->text && answers_equal(*g.kids.back(), *p.kids.back(), ctx);
  if (g.kids.size() == 2 && p.kids.size() == 2) return single_relations_equal(g, p, ctx);
  return chains_equal(g, p, ctx);
}

NodePtr relation_as_interval(const Node& r) {
  std::vector<NodePtr> kids;
  std::vector<std::string> ops;
  ascending(r, kids, ops);
  if (!std::all_of(ops.begin(), ops.end(), is_less)) return nullptr;
  auto strict = [&](size_t i) { return ops[i] == "<"; };
  auto bound = [&](size_t i) { return !has_symbols(*kids[i]); };
  auto variable = [&](size_t i) { return kids[i]->kind == NodeKind::kSymbol; };
  if (kids.size() == 3 && variable(1) && bound(0) && bound(2)) return interval(kids[0], strict(0), kids[2], strict(1));
  if (kids.size() != 2) return nullptr;
  if (variable(0) && bound(1)) return interval(infinity(true), true, kids[1], strict(0));  // x < b
  if (variable(1) && bound(0)) return interval(kids[0], strict(0), infinity(false), true);  // a < x
  return nullptr;
}

}  // namespace r1
