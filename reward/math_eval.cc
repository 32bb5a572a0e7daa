#include "reward/math_eval.h"

#include <cmath>
#include <limits>

namespace r1 {
namespace {

using BigInt = boost::multiprecision::cpp_int;
using Complex = std::complex<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int64_t bits(const BigInt& v) { return v == 0 ? 0 : static_cast<int64_t>(boost::multiprecision::msb(abs(v))) + 1; }

bool too_big(const Rational& v, const EvalLimits& limits) {
  return bits(numerator(v)) > limits.max_bits || bits(denominator(v)) > limits.max_bits;
}

std::optional<Rational> integer_power(const Rational& base, const Rational& exponent, const EvalLimits& limits) {
  if (denominator(exponent) != 1) return std::nullopt;
  BigInt e = numerator(exponent);
  if (base == 0) {
    if (e <= 0) return std::nullopt;
    return Rational(0);
  }
  if (base == 1) return Rational(1);
  if (base == -1) return Rational((e & 1) ? -1 : 1);
  // Refuse before computing: the result would need |e| * bits(base) bits.
  int64_t base_bits = std::max(bits(numerator(base)), bits(denominator(base)));
  if (abs(e) > limits.max_bits || abs(e) * base_bits > limits.max_bits) return std::nullopt;
  int64_t n = static_cast<int64_t>(abs(e));
  BigInt num = boost::multiprecision::pow(numerator(base), static_cast<unsigned>(n));
  BigInt den = boost::multiprecision::pow(denominator(base), static_cast<unsigned>(n));
  Rational r(num, den);
  return e < 0 ? Rational(1) / r : r;
}

std::optional<Rational> factorial(const Rational& v, const EvalLimits& limits) {
  if (denominator(v) != 1 || v < 0 || v > limits.max_factorial) return std::nullopt;
  BigInt acc = 1;
  for (int64_t i = 2; i <= static_cast<int64_t>(numerator(v)); ++i) acc *= i;
  return Rational(acc);
}

std::optional<Rational> binomial(const Rational& n, const Rational& k, const EvalLimits& limits) {
  if (denominator(n) != 1 || denominator(k) != 1 || n < 0 || n > limits.max_factorial) return std::nullopt;
  if (k < 0 || k > n) return Rational(0);
  BigInt acc = 1;
  int64_t nn = static_cast<int64_t>(numerator(n)), kk = static_cast<int64_t>(numerator(k));
  for (int64_t i = 1; i <= kk; ++i) acc = acc * (nn - kk + i) / i;
  return Rational(acc);
}

Complex apply_function(const std::string& name, const std::vector<Complex>& a) {
  const Complex& x = a[0];
  if (name == "sqrt") return std::sqrt(x);
  if (name == "sin") return std::sin(x);
  if (name == "cos") return std::cos(x);
  if (name == "tan") return std::tan(x);
  if (name == "cot") return 1.0 / std::tan(x);
  if (name == "sec") return 1.0 / std::cos(x);
  if (name == "csc") return 1.0 / std::sin(x);
  if (name == "arcsin") return std::asin(x);
  if (name == "arccos") return std::acos(x);
  if (name == "arctan") return std::atan(x);
  if (name == "sinh") return std::sinh(x);
  if (name == "cosh") return std::cosh(x);
  if (name == "tanh") return std::tanh(x);
  if (name == "exp") return std::exp(x);
  if (name == "ln") return std::log(x);
  if (name == "log") return a.size() == 2 ? std::log(x) / std::log(a[1]) : std::log(x);
  if (name == "log10") return std::log10(x);
  if (name == "abs") return std::abs(x);
  if (name == "floor" && x.imag() == 0) return std::floor(x.real());
  if (name == "ceil" && x.imag() == 0) return std::ceil(x.real());
  if (name == "factorial" && x.imag() == 0 && x.real() >= 0) return std::tgamma(x.real() + 1);
  if (name == "binom" && a.size() == 2 && x.imag() == 0 && a[1].imag() == 0) {
    double n = x.real(), k = a[1].real();
    return std::exp(std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1));
  }
  return {kNaN, kNaN};
}

}  // namespace

std::optional<Rational> parse_decimal(const std::string& text) {
  BigInt mantissa = 0;
  int64_t scale = 0, exp10 = 0;
  size_t i = 0;
  bool after_point = false, any = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      mantissa = mantissa * 10 + (c - '0');
      if (after_point) ++scale;
      any = true;
    } else if (c == '.' && !after_point) {
      after_point = true;
    } else {
      break;
    }
  }
  if (!any) return std::nullopt;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return std::nullopt;
    std::string rest = text.substr(i + 1);
    if (rest.empty() || rest.size() > 6) return std::nullopt;  // 1e999999 is not a number we evaluate
    for (size_t j = (rest[0] == '-' || rest[0] == '+') ? 1 : 0; j < rest.size(); ++j)
      if (rest[j] < '0' || rest[j] > '9') return std::nullopt;
    exp10 = std::stoll(rest);
  }
  int64_t shift = exp10 - scale;
  if (shift > 5000 || shift < -5000) return std::nullopt;
  BigInt p = boost::multiprecision::pow(BigInt(10), static_cast<unsigned>(shift < 0 ? -shift : shift));
  return shift >= 0 ? Rational(mantissa * p) : Rational(mantissa, p);
}

std::optional<Rational> eval_rational(const Node& node, const EvalLimits& limits) {
  auto kid = [&](size_t i) { return eval_rational(*node.kids[i], limits); };
  std::optional<Rational> out;
  switch (node.kind) {
    case NodeKind::kNumber:
      return parse_decimal(node.text);
    case NodeKind::kAdd:
    case NodeKind::kMul: {
      Rational acc = node.kind == NodeKind::kAdd ? 0 : 1;
      for (size_t i = 0; i < node.kids.size(); ++i) {
        auto v = kid(i);
        if (!v) return std::nullopt;
        if (node.kind == NodeKind::kAdd) acc += *v;
        else acc *= *v;
        if (too_big(acc, limits)) return std::nullopt;
      }
      return acc;
    }
    case NodeKind::kDiv: {
      auto a = kid(0), b = kid(1);
      if (!a || !b || *b == 0) return std::nullopt;
      out = *a / *b;
      break;
    }
    case NodeKind::kNeg: {
      auto a = kid(0);
      if (!a) return std::nullopt;
      return -*a;
    }
    case NodeKind::kPow: {
      auto a = kid(0), b = kid(1);
      if (!a || !b) return std::nullopt;
      out = integer_power(*a, *b, limits);
      break;
    }
    case NodeKind::kPercent: {
      auto a = kid(0);
      if (!a) return std::nullopt;
      return *a / 100;
    }
    case NodeKind::kFunc: {
      if (node.text == "factorial") {
        auto a = kid(0);
        if (a) out = factorial(*a, limits);
      } else if (node.text == "binom") {
        auto a = kid(0), b = kid(1);
        if (a && b) out = binomial(*a, *b, limits);
      }
      break;
    }
    default:
      return std::nullopt;
  }
  if (out && too_big(*out, limits)) return std::nullopt;
  return out;
}

Complex eval_complex(const Node& node, const Env& env) {
  auto kid = [&](size_t i) { return eval_complex(*node.kids[i], env); };
  switch (node.kind) {
    case NodeKind::kNumber: {
      auto r = parse_decimal(node.text);
      return r ? Complex(r->convert_to<double>(), 0) : Complex(std::strtod(node.text.c_str(), nullptr), 0);
    }
    case NodeKind::kSymbol: {
      auto it = env.find(node.text);
      return it == env.end() ? Complex(kNaN, kNaN) : it->second;
    }
    case NodeKind::kConst:
      if (node.text == "pi") return M_PI;
      if (node.text == "i") return {0, 1};
      return std::numeric_limits<double>::infinity();
    case NodeKind::kAdd:
    case NodeKind::kMul: {
      Complex acc = node.kind == NodeKind::kAdd ? 0.0 : 1.0;
      for (size_t i = 0; i < node.kids.size(); ++i) acc = node.kind == NodeKind::kAdd ? acc + kid(i) : acc * kid(i);
      return acc;
    }
    case NodeKind::kDiv:
      return kid(0) / kid(1);
    case NodeKind::kNeg:
      return -kid(0);
    case NodeKind::kPow: {
      Complex b = kid(0), e = kid(1);
      // Real odd roots of negatives stay real: (-8)^(1/3) = -2.
      if (b.imag() == 0 && e.imag() == 0 && b.real() < 0) {
        double inv = 1.0 / e.real();
        if (std::abs(inv - std::round(inv)) < 1e-12 && std::fmod(std::round(inv), 2.0) != 0)
          return -std::pow(-b.real(), e.real());
        if (e.real() == std::round(e.real())) return std::pow(b.real(), e.real());
      }
      return std::pow(b, e);
    }
    case NodeKind::kPercent:
      return kid(0) / 100.0;
    case NodeKind::kFunc: {
      std::vector<Complex> args;
      for (size_t i = 0; i < node.kids.size(); ++i) args.push_back(kid(i));
      return apply_function(node.text, args);
    }
    default:
      return {kNaN, kNaN};
  }
}

}  // namespace r1
