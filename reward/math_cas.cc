#include "reward/math_cas.h"

#include <ginac/ginac.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "reward/math_eval.h"

namespace r1 {
namespace {

std::mutex& ginac_mutex() {
  static std::mutex m;
  return m;
}

// Waits for the GiNaC lock until the deadline. Polls try_lock() rather than
// using timed_mutex, whose clock-based wait ThreadSanitizer cannot see (it
// then reports the GiNaC refcounts it protects as races).
bool lock_until(std::unique_lock<std::mutex>& lock, const Deadline& deadline) {
  while (!lock.try_lock()) {
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  return true;
}

// Upper estimate of the number of terms after expand(): sums add, products
// multiply, x^n of a t-term sum gives C(t+n-1, n). Saturates at 1e18.
double expanded_terms(const Node& n) {
  switch (n.kind) {
    case NodeKind::kAdd: {
      double t = 0;
      for (const NodePtr& k : n.kids) t += expanded_terms(*k);
      return std::min(t, 1e18);
    }
    case NodeKind::kMul:
    case NodeKind::kDiv: {
      double t = 1;
      for (const NodePtr& k : n.kids) t *= expanded_terms(*k);
      return std::min(t, 1e18);
    }
    case NodeKind::kNeg:
    case NodeKind::kPercent:
      return expanded_terms(*n.kids[0]);
    case NodeKind::kPow: {
      double base = expanded_terms(*n.kids[0]);
      const Node& e = *n.kids[1];
      if (e.kind != NodeKind::kNumber || e.is_float || base <= 1) return base;
      double exponent = std::atof(e.text.c_str()), t = 1;
      for (int i = 1; i <= exponent && t < 1e18; ++i) t = t * (base + i - 1) / i;
      return std::min(t, 1e18);
    }
    default:
      return 1;
  }
}

// GiNaC computes b^e exactly and cannot be interrupted, so an exponent
// without symbols must be small once evaluated: 10^(10^10) and 10^(10^101)
// are refused, not computed (their exponents are towers too short to look
// dangerous). Irrational exponents (\pi, \sqrt2) stay symbolic in GiNaC.
bool exponent_within_limits(const Node& pow, const CasLimits& limits) {
  const Node& e = *pow.kids[1];
  std::vector<std::string> syms;
  collect_symbols(e, syms);
  if (!syms.empty()) return true;
  std::complex<double> v = eval_complex(e, {});
  collect_symbols(*pow.kids[0], syms);
  double most = syms.empty() ? limits.max_numeric_exponent : limits.max_symbolic_exponent;
  return std::isfinite(v.real()) && std::isfinite(v.imag()) && std::abs(v) <= most;
}

// Checks the limits on the tree before any GiNaC object exists.
bool within_limits(const Node& n, const CasLimits& limits) {
  if (n.kind == NodeKind::kConst && n.text == "inf") return false;
  if (n.kind == NodeKind::kPow && !exponent_within_limits(n, limits)) return false;
  if (n.kind == NodeKind::kFunc && n.text == "factorial") {
    const Node& a = *n.kids[0];
    if (a.kind != NodeKind::kNumber || a.text.size() > 3) return false;
  }
  if (n.kind == NodeKind::kNumber && n.text.size() > 60) return false;
  for (const NodePtr& k : n.kids)
    if (!within_limits(*k, limits)) return false;
  return true;
}

class Converter {
 public:
  std::optional<GiNaC::ex> convert(const Node& n) {
    using namespace GiNaC;
    std::vector<ex> a;
    for (const NodePtr& k : n.kids) {
      auto v = convert(*k);
      if (!v) return std::nullopt;
      a.push_back(*v);
    }
    switch (n.kind) {
      case NodeKind::kNumber:
        return number(n.text);
      case NodeKind::kSymbol: {
        auto it = symbols_.find(n.text);
        if (it == symbols_.end()) it = symbols_.emplace(n.text, symbol(n.text)).first;
        return ex(it->second);
      }
      case NodeKind::kConst:
        if (n.text == "pi") return ex(Pi);
        if (n.text == "i") return ex(I);
        return std::nullopt;
      case NodeKind::kAdd: {
        ex acc = 0;
        for (const ex& e : a) acc += e;
        return acc;
      }
      case NodeKind::kMul: {
        ex acc = 1;
        for (const ex& e : a) acc *= e;
        return acc;
      }
      case NodeKind::kDiv:
        if (a[1].is_zero()) return std::nullopt;
        return a[0] / a[1];
      case NodeKind::kNeg:
        return -a[0];
      case NodeKind::kPow:
        return pow(a[0], a[1]);
      case NodeKind::kPercent:
        return a[0] / 100;
      case NodeKind::kFunc:
        return function(n.text, a);
      default:
        return std::nullopt;
    }
  }

 private:
  std::map<std::string, GiNaC::symbol> symbols_;

  static GiNaC::ex number(const std::string& text) {
    // Decimals become exact rationals: "0.25" -> 1/4.
    size_t point = text.find('.');
    if (text.find_first_of("eE") != std::string::npos) return GiNaC::numeric(text.c_str());
    if (point == std::string::npos) return GiNaC::numeric(text.c_str());
    std::string digits = text.substr(0, point) + text.substr(point + 1);
    std::string den = "1" + std::string(text.size() - point - 1, '0');
    return GiNaC::numeric(digits.c_str()) / GiNaC::numeric(den.c_str());
  }

  static std::optional<GiNaC::ex> function(const std::string& name, const std::vector<GiNaC::ex>& a) {
    using namespace GiNaC;
    if (name == "sqrt") return sqrt(a[0]);
    if (name == "sin") return sin(a[0]);
    if (name == "cos") return cos(a[0]);
    if (name == "tan") return tan(a[0]);
    if (name == "cot") return cos(a[0]) / sin(a[0]);
    if (name == "sec") return 1 / cos(a[0]);
    if (name == "csc") return 1 / sin(a[0]);
    if (name == "exp") return exp(a[0]);
    if (name == "ln") return log(a[0]);
    if (name == "log") return a.size() == 2 ? log(a[0]) / log(a[1]) : log(a[0]);
    if (name == "abs") return abs(a[0]);
    if (name == "factorial") return factorial(a[0]);
    if (name == "binom") return binomial(a[0], a[1]);
    return std::nullopt;
  }
};

template <typename Check>
CasAnswer with_ginac(const Node& a, const Node& b, const CasLimits& limits, const Deadline& deadline, Check check) {
  if (node_count(a) + node_count(b) > limits.max_nodes) return CasAnswer::kUnknown;
  if (!within_limits(a, limits) || !within_limits(b, limits)) return CasAnswer::kUnknown;
  if (expanded_terms(a) + expanded_terms(b) > limits.max_expanded_terms) return CasAnswer::kUnknown;
  std::unique_lock<std::mutex> lock(ginac_mutex(), std::defer_lock);
  if (!lock_until(lock, deadline)) return CasAnswer::kTimedOut;
  try {
    Converter conv;
    auto ea = conv.convert(a);
    auto eb = conv.convert(b);
    if (!ea || !eb) return CasAnswer::kUnknown;
    return check(*ea, *eb) ? CasAnswer::kYes : CasAnswer::kNo;
  } catch (const std::exception&) {
    // GiNaC throws on things like division by zero found while simplifying.
    return CasAnswer::kUnknown;
  }
}

}  // namespace

CasAnswer cas_equal(const Node& a, const Node& b, const CasLimits& limits, const Deadline& deadline) {
  return with_ginac(a, b, limits, deadline,
                    [](const GiNaC::ex& x, const GiNaC::ex& y) { return (x - y).expand().normal().is_zero(); });
}

CasAnswer cas_proportional(const Node& a, const Node& b, const CasLimits& limits, const Deadline& deadline,
                           bool positive) {
  return with_ginac(a, b, limits, deadline, [positive](const GiNaC::ex& x, const GiNaC::ex& y) {
    if (y.is_zero()) return false;
    GiNaC::ex r = (x / y).normal();
    if (!GiNaC::is_a<GiNaC::numeric>(r) || r.is_zero()) return false;
    return !positive || GiNaC::ex_to<GiNaC::numeric>(r).is_positive();
  });
}

}  // namespace r1
