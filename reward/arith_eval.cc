#include "reward/arith_eval.h"

#include <cctype>
#include <charconv>
#include <string>

namespace r1 {

namespace {

constexpr int kMaxDepth = 200;

// Recursive descent over:  expr := term (('+'|'-') term)*
//                          term := unary (('*'|'/') unary)*
//                          unary := ('+'|'-') unary | atom
//                          atom := number | '(' expr ')'
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<double> parse_all() {
    R1_ASSIGN_OR_RETURN(double v, expr(0));
    skip_space();
    if (pos_ != text_.size()) return fail("unexpected '" + std::string(1, text_[pos_]) + "'");
    return v;
  }

 private:
  Status fail(const std::string& what) const {
    return Status::error("arithmetic: " + what + " at offset " + std::to_string(pos_));
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || (text_[pos_] >= '\t' && text_[pos_] <= '\r'))) ++pos_;
  }
  // The next operator character, refusing Python's "**" and "//" which this
  // grammar does not cover.
  Result<char> peek_operator() {
    skip_space();
    if (pos_ >= text_.size()) return '\0';
    char c = text_[pos_];
    if ((c == '*' || c == '/') && pos_ + 1 < text_.size() && text_[pos_ + 1] == c)
      return fail(std::string("unsupported operator '") + c + c + "'");
    return c;
  }

  Result<double> expr(int depth) {
    R1_ASSIGN_OR_RETURN(double left, term(depth));
    for (;;) {
      R1_ASSIGN_OR_RETURN(char op, peek_operator());
      if (op != '+' && op != '-') return left;
      ++pos_;
      R1_ASSIGN_OR_RETURN(double right, term(depth));
      left = op == '+' ? left + right : left - right;
    }
  }

  Result<double> term(int depth) {
    R1_ASSIGN_OR_RETURN(double left, unary(depth));
    for (;;) {
      R1_ASSIGN_OR_RETURN(char op, peek_operator());
      if (op != '*' && op != '/') return left;
      ++pos_;
      R1_ASSIGN_OR_RETURN(double right, unary(depth));
      if (op == '/' && right == 0.0) return fail("division by zero");
      left = op == '*' ? left * right : left / right;
    }
  }

  Result<double> unary(int depth) {
    skip_space();
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
      if (depth >= kMaxDepth) return fail("too deeply nested");
      char sign = text_[pos_++];
      R1_ASSIGN_OR_RETURN(double v, unary(depth + 1));
      return sign == '-' ? -v : v;
    }
    return atom(depth);
  }

  Result<double> atom(int depth) {
    skip_space();
    if (pos_ >= text_.size()) return fail("expected a number or '('");
    if (text_[pos_] == '(') {
      if (depth >= kMaxDepth) return fail("too deeply nested");
      ++pos_;
      R1_ASSIGN_OR_RETURN(double v, expr(depth + 1));
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != ')') return fail("expected ')'");
      ++pos_;
      return v;
    }
    return number();
  }

  Result<double> number() {
    size_t start = pos_;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    size_t int_end = pos_;
    bool has_dot = pos_ < text_.size() && text_[pos_] == '.';
    if (has_dot) {
      ++pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    }
    std::string_view lit = text_.substr(start, pos_ - start);
    if (lit.empty() || lit == ".") {
      pos_ = start;
      return fail("expected a number or '('");
    }
    if (!has_dot && int_end - start > 1 && lit[0] == '0' && lit.find_first_not_of('0') != std::string_view::npos) {
      pos_ = start;
      return fail("leading zeros in an integer literal");
    }
    double value = 0.0;
    std::string padded(lit);
    if (padded.back() == '.') padded += '0';  // "3." is valid Python, not for from_chars
    auto [ptr, ec] = std::from_chars(padded.data(), padded.data() + padded.size(), value);
    if (ec != std::errc() || ptr != padded.data() + padded.size()) {
      pos_ = start;
      return fail("bad number '" + std::string(lit) + "'");
    }
    return value;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Result<double> evaluate_arithmetic(std::string_view expr) { return Parser(expr).parse_all(); }

}  // namespace r1
