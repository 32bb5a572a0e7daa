// Numeric evaluation of parsed expressions without the CAS: exact rationals
// where only + - * / and integer powers occur, and complex doubles for the
// rest (roots, pi, trigonometry) and for random-point checks. Both are
// thread-safe and bounded: huge powers and factorials are refused.
#pragma once

#include <complex>
#include <map>
#include <optional>
#include <string>

#include <boost/multiprecision/cpp_int.hpp>

#include "reward/math_ast.h"

namespace r1 {

using Rational = boost::multiprecision::cpp_rational;

struct EvalLimits {
  int64_t max_bits = 20000;      // largest exact number (about 6000 digits)
  int64_t max_factorial = 1000;  // n! is refused above this n
};

// Exact value of a rational expression; nullopt when it is not one (symbols,
// roots, pi) or exceeds the limits.
std::optional<Rational> eval_rational(const Node& node, const EvalLimits& limits);

// Value with the symbols bound by `env`; NaN when undefined or unsupported.
using Env = std::map<std::string, std::complex<double>>;
std::complex<double> eval_complex(const Node& node, const Env& env);

// Parses "12", "0.25", "1.5e-3" exactly; nullopt for anything else.
std::optional<Rational> parse_decimal(const std::string& text);

}  // namespace r1
