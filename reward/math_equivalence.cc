#include "reward/math_equivalence.h"

#include <cmath>
#include <functional>
#include <random>

#include "reward/math_cas.h"
#include "reward/math_eval.h"
#include "reward/math_relations.h"

namespace r1 {
namespace {

using Complex = std::complex<double>;

bool expired(CompareContext& ctx) {
  if (ctx.deadline.expired()) ctx.timed_out = true;
  return ctx.timed_out;
}

bool finite(Complex z) { return std::isfinite(z.real()) && std::isfinite(z.imag()); }

bool close(Complex a, Complex b, double tol) {
  double diff = std::abs(a - b);
  return diff <= tol * std::max(std::abs(a), std::abs(b)) || diff <= 1e-12;
}

bool is_structure(NodeKind k) {
  switch (k) {
    case NodeKind::kTuple:
    case NodeKind::kList:
    case NodeKind::kSet:
    case NodeKind::kInterval:
    case NodeKind::kUnion:
    case NodeKind::kMatrix:
    case NodeKind::kRelation:
    case NodeKind::kText:
    case NodeKind::kChoice:
    case NodeKind::kPlusMinus:
      return true;
    default:
      return false;
  }
}

// Polynomials and rational functions, where normal() decides equality.
bool is_rational_function(const Node& n) {
  switch (n.kind) {
    case NodeKind::kFunc:
      return false;
    case NodeKind::kConst:
      return n.text == "i";
    case NodeKind::kPow:
      if (n.kids[1]->kind != NodeKind::kNumber || n.kids[1]->is_float) return false;
      break;
    default:
      break;
  }
  for (const NodePtr& k : n.kids)
    if (!is_rational_function(*k)) return false;
  return true;
}

// "a ± b" stands for the values a + b and a - b; nested ones multiply out.
std::vector<NodePtr> expand_plus_minus(const NodePtr& n, int budget = 16) {
  if (n->kind == NodeKind::kPlusMinus) {
    NodePtr a = n->kids.size() == 2 ? n->kids[0] : nullptr;
    NodePtr b = n->kids.back();
    if (!a) return {b, make_node(NodeKind::kNeg, {b})};
    return {make_node(NodeKind::kAdd, {a, b}), make_node(NodeKind::kAdd, {a, make_node(NodeKind::kNeg, {b})})};
  }
  return {n};
}

std::vector<NodePtr> set_items(const Node& n) {
  std::vector<NodePtr> out;
  for (const NodePtr& k : n.kids)
    for (NodePtr v : expand_plus_minus(k)) out.push_back(v);
  return out;
}

// Every gold item is matched by a distinct predicted item, sizes equal.
bool unordered_equal(const std::vector<NodePtr>& gold, const std::vector<NodePtr>& pred, CompareContext& ctx) {
  if (gold.size() != pred.size()) return false;
  std::vector<bool> used(pred.size(), false);
  for (const NodePtr& g : gold) {
    bool found = false;
    for (size_t j = 0; j < pred.size() && !found; ++j) {
      if (used[j] || expired(ctx)) continue;
      if (answers_equal(*g, *pred[j], ctx)) used[j] = found = true;
    }
    if (!found) return false;
  }
  return true;
}

bool ordered_equal(const std::vector<NodePtr>& gold, const std::vector<NodePtr>& pred, CompareContext& ctx) {
  if (gold.size() != pred.size()) return false;
  for (size_t i = 0; i < gold.size(); ++i)
    if (expired(ctx) || !answers_equal(*gold[i], *pred[i], ctx)) return false;
  return true;
}

// Inside a union, "(a, b)" is an open interval, not a pair.
NodePtr as_interval(const NodePtr& n) {
  if (n->kind != NodeKind::kTuple || n->kids.size() != 2) return n;
  auto iv = std::make_shared<Node>(*n);
  iv->kind = NodeKind::kInterval;
  iv->left_open = iv->right_open = true;
  return iv;
}

bool is_infinite_endpoint(const Node& n) {
  if (n.kind == NodeKind::kConst && n.text == "inf") return true;
  return n.kind == NodeKind::kNeg && is_infinite_endpoint(*n.kids[0]);
}

// Open and closed ends differ, except at infinity, which no interval of
// reals contains either way: [-\infty, 2) is (-\infty, 2).
bool intervals_equal(const Node& g, const Node& p, CompareContext& ctx) {
  if (p.kind != NodeKind::kInterval) return false;
  if (g.left_open != p.left_open && !is_infinite_endpoint(*g.kids[0])) return false;
  if (g.right_open != p.right_open && !is_infinite_endpoint(*g.kids[1])) return false;
  return ordered_equal(g.kids, p.kids, ctx);
}

bool unions_equal(const Node& g, const Node& p, CompareContext& ctx) {
  if (p.kind != NodeKind::kUnion || g.kids.size() != p.kids.size()) return false;
  std::vector<NodePtr> gi, pi;
  for (const NodePtr& k : g.kids) gi.push_back(as_interval(k));
  for (const NodePtr& k : p.kids) pi.push_back(as_interval(k));
  return unordered_equal(gi, pi, ctx);
}

bool matrices_equal(const Node& g, const Node& p, CompareContext& ctx) {
  if (p.kind != NodeKind::kMatrix || g.rows != p.rows || g.cols != p.cols) return false;
  return ordered_equal(g.kids, p.kids, ctx);
}

// Random-point comparison for expressions the CAS cannot settle.
bool equal_at_random_points(const Node& g, const Node& p, const std::vector<std::string>& symbols, double tol,
                            CompareContext& ctx) {
  std::mt19937 rng(20240607);  // fixed seed: the same pair always gets the same verdict
  std::uniform_real_distribution<double> dist(-2.5, 2.5);
  int agreed = 0;
  for (int attempt = 0; attempt < 3 * ctx.options.random_points && agreed < ctx.options.random_points; ++attempt) {
    if (expired(ctx)) return false;
    Env env;
    for (const std::string& s : symbols) env[s] = Complex(dist(rng), 0);
    Complex a = eval_complex(g, env), b = eval_complex(p, env);
    if (!finite(a) || !finite(b)) continue;
    if (!close(a, b, tol)) return false;
    ++agreed;
  }
  return agreed >= std::max(1, ctx.options.random_points / 2);
}

bool contains_infinity(const Node& n) {
  if (n.kind == NodeKind::kConst && n.text == "inf") return true;
  for (const NodePtr& k : n.kids)
    if (contains_infinity(*k)) return true;
  return false;
}

// Digits after the point of the most precise decimal literal: "0.125" -> 3,
// "6.72e-5" -> 7.
int decimal_places(const Node& n) {
  int best = 0;
  if (n.kind == NodeKind::kNumber && n.is_float) {
    size_t point = n.text.find('.'), e = n.text.find_first_of("eE");
    int frac =
        point == std::string::npos ? 0 : static_cast<int>((e == std::string::npos ? n.text.size() : e) - point - 1);
    int exp10 = e == std::string::npos ? 0 : std::atoi(n.text.c_str() + e + 1);
    best = std::max(0, frac - exp10);
  }
  for (const NodePtr& k : n.kids) best = std::max(best, decimal_places(*k));
  return best;
}

// A written decimal matches a value when it is that value rounded to the
// digits written (half a unit in the last place) and also within the
// relative tolerance: "0.333333" = 1/3, but "0.33" != 1/3 and
// "1450001.0" != 1450000.
bool decimal_close(double a, double b, int places, double rel_tol) {
  double diff = std::abs(a - b);
  double half_ulp = 0.5 * std::pow(10.0, -std::min(places, 300)) * (1 + 1e-9);
  return diff <= half_ulp && (diff <= rel_tol * std::max(std::abs(a), std::abs(b)) || diff <= 1e-12);
}

bool constants_equal(const Node& g, const Node& p, bool has_float, CompareContext& ctx) {
  const MathOptions& o = ctx.options;
  auto rg = eval_rational(g, o.eval);
  auto rp = eval_rational(p, o.eval);
  if (rg && rp) {
    if (*rg == *rp) return true;
    int places = std::max(decimal_places(g), decimal_places(p));
    return has_float && decimal_close(rg->convert_to<double>(), rp->convert_to<double>(), places, o.rel_tolerance);
  }
  Complex a = eval_complex(g, {}), b = eval_complex(p, {});
  if (finite(a) && finite(b)) {
    if (!has_float) return close(a, b, o.float_noise_tolerance);
    int places = std::max(decimal_places(g), decimal_places(p));
    return a.imag() == 0 && b.imag() == 0 ? decimal_close(a.real(), b.real(), places, o.rel_tolerance)
                                          : close(a, b, o.rel_tolerance);
  }
  // Written infinities compare by sign; overflow ("10^10^10") and undefined
  // values are never equal to anything.
  if (!contains_infinity(g) || !contains_infinity(p)) return false;
  bool inf_a = std::isinf(a.real()) && a.imag() == 0, inf_b = std::isinf(b.real()) && b.imag() == 0;
  return inf_a && inf_b && (a.real() > 0) == (b.real() > 0);
}

bool plain_expressions_equal(const Node& g, const Node& p, CompareContext& ctx) {
  if (expired(ctx)) return false;
  bool has_float = contains_float(g) || contains_float(p);
  std::vector<std::string> symbols;
  collect_symbols(g, symbols);
  collect_symbols(p, symbols);
  if (symbols.empty()) return constants_equal(g, p, has_float, ctx);
  if (!has_float) {
    CasAnswer a = cas_equal(g, p, ctx.options.cas, ctx.deadline);
    if (a == CasAnswer::kYes) return true;
    if (a == CasAnswer::kTimedOut) {
      ctx.timed_out = true;
      return false;
    }
    if (a == CasAnswer::kNo && is_rational_function(g) && is_rational_function(p)) return false;
  }
  double tol = has_float ? ctx.options.rel_tolerance : ctx.options.float_noise_tolerance;
  return equal_at_random_points(g, p, symbols, tol, ctx);
}

bool is_set_like(NodeKind k) { return k == NodeKind::kInterval || k == NodeKind::kUnion; }

// The interval an inequality `rel` describes, when `other` is an interval to
// compare it with; nullptr otherwise.
NodePtr interval_of(const Node& rel, const Node& other) {
  if (rel.kind != NodeKind::kRelation || !is_set_like(other.kind)) return nullptr;
  return relation_as_interval(rel);
}

}  // namespace

bool expressions_equal(const Node& g, const Node& p, CompareContext& ctx) {
  // "50\%" equals both "50" and "0.5".
  if (g.kind == NodeKind::kPercent && plain_expressions_equal(*g.kids[0], p, ctx)) return true;
  if (p.kind == NodeKind::kPercent && plain_expressions_equal(g, *p.kids[0], ctx)) return true;
  return plain_expressions_equal(g, p, ctx);
}

bool answers_equal(const Node& g, const Node& p, CompareContext& ctx) {
  if (expired(ctx)) return false;
  // A prediction "x = <answer>" stands for its right-hand side unless the
  // gold is itself a relation.
  if (g.kind != NodeKind::kRelation && is_equality(p)) return answers_equal(g, *p.kids.back(), ctx);
  // A gold inequality accepts its interval; a predicted inequality matches a
  // gold interval only when allowed (so restating the question's inequality
  // is not rewarded by default).
  if (NodePtr iv = interval_of(g, p)) return answers_equal(*iv, p, ctx);
  if (NodePtr iv = interval_of(p, g); iv && ctx.options.allow_set_relation_comp) return answers_equal(g, *iv, ctx);
  switch (g.kind) {
    case NodeKind::kChoice:
      return (p.kind == NodeKind::kChoice || p.kind == NodeKind::kSymbol) && p.text == g.text;
    case NodeKind::kText:
      return p.kind == NodeKind::kText && p.text == g.text;
    case NodeKind::kList:
    case NodeKind::kSet:
      if (p.kind == NodeKind::kList || p.kind == NodeKind::kSet || p.kind == NodeKind::kTuple)
        return unordered_equal(set_items(g), set_items(p), ctx);
      if (p.kind == NodeKind::kPlusMinus)
        return unordered_equal(set_items(g), expand_plus_minus(std::make_shared<Node>(p)), ctx);
      return g.kids.size() == 1 && answers_equal(*g.kids[0], p, ctx);
    case NodeKind::kPlusMinus:
      if (p.kind == NodeKind::kPlusMinus || p.kind == NodeKind::kList || p.kind == NodeKind::kSet) {
        std::vector<NodePtr> pi =
            p.kind == NodeKind::kPlusMinus ? expand_plus_minus(std::make_shared<Node>(p)) : set_items(p);
        return unordered_equal(expand_plus_minus(std::make_shared<Node>(g)), pi, ctx);
      }
      return false;
    case NodeKind::kTuple:
      if (p.kind == NodeKind::kTuple || p.kind == NodeKind::kList) return ordered_equal(g.kids, p.kids, ctx);
      return false;
    case NodeKind::kInterval:
      return intervals_equal(g, p, ctx);
    case NodeKind::kUnion:
      return unions_equal(g, p, ctx);
    case NodeKind::kMatrix:
      return matrices_equal(g, p, ctx);
    case NodeKind::kRelation:
      if (p.kind == NodeKind::kRelation) return relations_equal(g, p, ctx);
      // Gold "x = 3" accepts a bare "3".
      if (is_assignment(g) && !is_structure(p.kind)) return expressions_equal(*g.kids.back(), p, ctx);
      return false;
    default:
      break;
  }
  // Gold is a single value.
  if ((p.kind == NodeKind::kSet || p.kind == NodeKind::kList) && p.kids.size() == 1)
    return answers_equal(g, *p.kids[0], ctx);
  if (is_structure(p.kind)) return false;
  return expressions_equal(g, p, ctx);
}

}  // namespace r1
