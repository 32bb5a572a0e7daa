#include "reward/math_ast.h"

#include <cctype>
#include <cstring>

#include "reward/math_normalize.h"
#include "util/utf8.h"

namespace r1 {

NodePtr make_node(NodeKind kind, std::vector<NodePtr> kids, std::string text) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  n->kids = std::move(kids);
  n->text = std::move(text);
  return n;
}

namespace {

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

const char* const kFunctions[] = {"sin",    "cos",    "tan",  "cot",  "sec",  "csc",  "log",  "ln",  "exp",
                                  "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "lg", nullptr};

// Greek letters other than \pi are variables ("\theta", "\lambda_1").
const char* const kGreek[] = {"alpha",   "beta",  "gamma", "delta",  "epsilon", "varepsilon", "zeta",   "eta",
                              "theta",   "vartheta", "iota", "kappa", "lambda", "mu",      "nu",         "xi",
                              "rho",     "sigma", "tau",   "upsilon", "phi",    "varphi",  "chi",        "psi",
                              "omega",   "Gamma", "Delta", "Theta",  "Lambda",  "Xi",      "Sigma",      "Phi",
                              "Psi",     "Omega", nullptr};

bool is_function_name(std::string_view name) {
  for (const char* const* f = kFunctions; *f; ++f)
    if (name == *f) return true;
  return false;
}

bool is_integer_literal(const Node& n) {
  if (n.kind != NodeKind::kNumber || n.is_float) return false;
  for (char c : n.text)
    if (!is_digit(c)) return false;
  return true;
}

class Parser {
 public:
  Parser(std::string_view s, const ParseLimits& limits) : s_(s), limits_(limits) {}

  Result<NodePtr> parse() {
    NodePtr node = parse_list();
    skip_ws();
    if (error_.empty() && pos_ < s_.size()) fail(unexpected_here());
    if (!error_.empty())
      return Status::error("cannot parse answer at offset " + std::to_string(error_pos_) + ": " + error_);
    return node;
  }

 private:
  std::string_view s_;
  const ParseLimits& limits_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::string error_;
  size_t error_pos_ = 0;

  NodePtr fail(const std::string& why) {
    if (error_.empty()) {
      error_ = why;
      error_pos_ = pos_;
    }
    pos_ = s_.size();  // stop consuming: every loop ends at end of input
    return make_node(NodeKind::kNumber, {}, "0");
  }
  bool failed() const { return !error_.empty(); }
  // "unexpected '€'": the whole character, never half of one.
  std::string unexpected_here() const {
    return "unexpected '" + std::string(s_.substr(pos_, utf8_char_length(s_, pos_))) + "'";
  }

  void skip_ws() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }
  bool at(std::string_view t) {
    skip_ws();
    return s_.substr(pos_, t.size()) == t;
  }
  // A command such as "\le" that is not the start of a longer name ("\left").
  bool at_cmd(std::string_view cmd) {
    if (!at(cmd)) return false;
    size_t end = pos_ + cmd.size();
    return end >= s_.size() || !is_alpha(s_[end]) || !is_alpha(cmd.back());
  }
  bool eat(std::string_view t) {
    if (!at(t)) return false;
    pos_ += t.size();
    return true;
  }
  bool eat_cmd(std::string_view cmd) {
    if (!at_cmd(cmd)) return false;
    pos_ += cmd.size();
    return true;
  }
  void expect(std::string_view t) {
    if (!eat(t)) fail("expected '" + std::string(t) + "'");
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.limits_.max_depth) p.fail("nested too deeply");
    }
    ~DepthGuard() { --p.depth_; }
  };

  // a, b, c at the top level (no brackets): a list.
  NodePtr parse_list() {
    std::vector<NodePtr> items{parse_relation()};
    while (!failed() && eat(",")) items.push_back(parse_relation());
    if (items.size() == 1) return items[0];
    return make_node(NodeKind::kList, std::move(items));
  }

  NodePtr parse_union() {
    std::vector<NodePtr> parts{parse_sum()};
    while (!failed() && (eat_cmd("\\cup") || eat("∪"))) parts.push_back(parse_sum());
    if (parts.size() == 1) return parts[0];
    return make_node(NodeKind::kUnion, std::move(parts));
  }

  // "\approx" comes back as "~": an approximation, not a relation.
  std::string relation_op() {
    static const std::pair<const char*, const char*> kOps[] = {
        {"\\leq", "<="}, {"\\le", "<="}, {"\\geq", ">="}, {"\\ge", ">="}, {"\\neq", "!="}, {"\\ne", "!="},
        {"\\lt", "<"},   {"\\gt", ">"},  {"\\approx", "~"}, {"≈", "~"},    {"<=", "<="}, {">=", ">="},
        {"!=", "!="},    {"≤", "<="},    {"≥", ">="},      {"=", "="},     {"<", "<"},   {">", ">"}};
    for (const auto& [text, op] : kOps)
      if (eat_cmd(text)) return op;
    return "";
  }

  // A chain "a < b <= c": operands plus one operator per link, kept in
  // `text` separated by blanks ("< <="). "x \approx 3" assigns 3 to x; after
  // an exact value, "\approx ..." only adds a rounding and is dropped:
  // "x = \frac13 \approx 0.33" is "x = \frac13".
  NodePtr parse_relation() {
    DepthGuard guard(*this);
    std::vector<NodePtr> operands{parse_union()};
    std::string ops;
    bool rounding = false;
    while (!failed()) {
      std::string op = relation_op();
      if (op.empty()) break;
      if (op == "~") {
        bool assigns = operands.size() == 1 && operands[0]->kind == NodeKind::kSymbol;
        rounding |= !assigns;
        op = "=";
      }
      NodePtr rhs = parse_union();
      if (rounding) continue;
      ops += (ops.empty() ? "" : " ") + op;
      operands.push_back(rhs);
    }
    if (operands.size() == 1) return operands[0];
    return make_node(NodeKind::kRelation, std::move(operands), ops);
  }

  NodePtr parse_sum() {
    DepthGuard guard(*this);
    std::vector<NodePtr> terms;
    if (eat_cmd("\\pm") || eat("±")) terms.push_back(make_node(NodeKind::kPlusMinus, {parse_term()}));
    else terms.push_back(parse_term());
    while (!failed()) {
      if (eat("+")) {
        terms.push_back(parse_term());
      } else if (eat("-") || eat("−")) {
        terms.push_back(make_node(NodeKind::kNeg, {parse_term()}));
      } else if (eat_cmd("\\pm") || eat("±") || eat_cmd("\\mp")) {
        NodePtr lhs = terms.size() == 1 ? terms[0] : make_node(NodeKind::kAdd, terms);
        terms = {make_node(NodeKind::kPlusMinus, {lhs, parse_term()})};
      } else {
        break;
      }
    }
    if (terms.size() == 1) return terms[0];
    return make_node(NodeKind::kAdd, std::move(terms));
  }

  // Whether the text before the blank at pos_ ends in a digit ("2 6").
  bool ends_with_digit() const {
    size_t p = pos_;
    while (p > 0 && is_space(s_[p - 1])) --p;
    return p > 0 && p < pos_ && is_digit(s_[p - 1]);
  }

  // Whether the next token can start a factor of an implicit product.
  bool at_factor_start() {
    skip_ws();
    if (pos_ >= s_.size()) return false;
    char c = s_[pos_];
    if (is_digit(c) || is_alpha(c) || c == '(' || c == '{' || c == '.') return true;
    if (c != '\\') return false;
    for (const char* stop : {"\\le", "\\leq", "\\ge", "\\geq", "\\ne", "\\neq", "\\lt", "\\gt", "\\cup", "\\pm", "\\mp",
                             "\\cdot", "\\times", "\\div", "\\}", "\\\\", "\\end", "\\approx", "\\rfloor", "\\rceil",
                             "\\in"})
      if (at_cmd(stop)) return false;
    return true;
  }

  NodePtr parse_term() {
    DepthGuard guard(*this);
    NodePtr acc = parse_unary();
    while (!failed()) {
      if (eat("*") || eat_cmd("\\cdot") || eat_cmd("\\times") || eat("×") || eat("·")) {
        acc = make_node(NodeKind::kMul, {acc, parse_unary()});
      } else if (eat("/") || eat_cmd("\\div") || eat("÷")) {
        acc = make_node(NodeKind::kDiv, {acc, parse_unary()});
      } else if (at_factor_start()) {
        if (ends_with_digit() && pos_ < s_.size() && is_digit(s_[pos_])) {
          fail("two numbers side by side");
          break;
        }
        bool frac_next = at_cmd("\\frac");
        NodePtr rhs = parse_power();
        acc = frac_next ? mixed_or_product(acc, rhs) : make_node(NodeKind::kMul, {acc, rhs});
      } else {
        break;
      }
    }
    return acc;
  }

  // "1\frac{4}{5}" and "137 \frac{1}{2}" are mixed numbers, not products.
  static NodePtr mixed_or_product(const NodePtr& lhs, const NodePtr& rhs) {
    bool frac = rhs->kind == NodeKind::kDiv && is_integer_literal(*rhs->kids[0]) && is_integer_literal(*rhs->kids[1]);
    if (frac && is_integer_literal(*lhs)) return make_node(NodeKind::kAdd, {lhs, rhs});
    if (frac && lhs->kind == NodeKind::kNeg && is_integer_literal(*lhs->kids[0]))
      return make_node(NodeKind::kNeg, {make_node(NodeKind::kAdd, {lhs->kids[0], rhs})});
    return make_node(NodeKind::kMul, {lhs, rhs});
  }

  NodePtr parse_unary() {
    DepthGuard guard(*this);
    if (eat("-") || eat("−")) return make_node(NodeKind::kNeg, {parse_unary()});
    if (eat("+")) return parse_unary();
    return parse_power();
  }

  NodePtr parse_power() {
    DepthGuard guard(*this);
    NodePtr base = parse_postfix(parse_primary());
    if (!failed() && eat("^")) {
      return parse_postfix(make_node(NodeKind::kPow, {base, parse_exponent()}));
    }
    return base;
  }

  // Towers associate to the right: 10^10^10 is 10^(10^10).
  NodePtr parse_exponent() {
    DepthGuard guard(*this);
    NodePtr exponent = at("-") ? parse_unary() : parse_arg(/*digit_run=*/true);
    if (failed() || !eat("^")) return exponent;
    return make_node(NodeKind::kPow, {exponent, parse_exponent()});
  }

  NodePtr parse_postfix(NodePtr node) {
    while (!failed()) {
      if (!at("!=") && eat("!")) node = make_node(NodeKind::kFunc, {node}, "factorial");
      else if (eat("%")) node = make_node(NodeKind::kPercent, {node});
      else break;
    }
    return node;
  }

  // The argument of \frac, \sqrt, ^ or _: a brace group, or one token
  // ("\frac12", "x^2"); after ^, a run of digits ("2^10").
  NodePtr parse_arg(bool digit_run) {
    DepthGuard guard(*this);
    skip_ws();
    if (pos_ >= s_.size()) return fail("missing argument");
    char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      NodePtr inner = parse_list();
      expect("}");
      return inner;
    }
    if (is_digit(c)) {
      size_t end = pos_ + 1;
      if (digit_run)
        while (end < s_.size() && is_digit(s_[end])) ++end;
      NodePtr n = make_node(NodeKind::kNumber, {}, std::string(s_.substr(pos_, end - pos_)));
      pos_ = end;
      return n;
    }
    if (is_alpha(c)) {
      ++pos_;
      return make_node(NodeKind::kSymbol, {}, std::string(1, c));
    }
    return parse_primary();
  }

  NodePtr parse_number() {
    size_t start = pos_;
    bool is_float = false;
    while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    if (pos_ + 1 < s_.size() && s_[pos_] == '.' && is_digit(s_[pos_ + 1])) {
      is_float = true;
      ++pos_;
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    }
    // Scientific notation "3e5", "1.2E-3" (but "2e" alone is 2 times e).
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t p = pos_ + 1;
      if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) ++p;
      if (p < s_.size() && is_digit(s_[p])) {
        while (p < s_.size() && is_digit(s_[p])) ++p;
        pos_ = p;
        is_float = true;
      }
    }
    auto n = std::make_shared<Node>();
    n->kind = NodeKind::kNumber;
    n->text = std::string(s_.substr(start, pos_ - start));
    n->is_float = is_float;
    // A base subscript ("4210_{5}") names the base; the digits are the answer.
    if (pos_ < s_.size() && s_[pos_] == '_') {
      ++pos_;
      parse_arg(false);
    }
    return n;
  }

  NodePtr parse_symbol() {
    size_t start = pos_;
    while (pos_ < s_.size() && is_alpha(s_[pos_])) ++pos_;
    std::string word(s_.substr(start, pos_ - start));
    if (is_function_name(word)) return parse_function(word);
    // Letters written together are a product of one-letter symbols.
    pos_ = start + 1;
    if (s_[start] == 'i' && (pos_ >= s_.size() || (s_[pos_] != '_' && s_[pos_] != '\''))) {
      return make_node(NodeKind::kConst, {}, "i");
    }
    return symbol_named(std::string(1, s_[start]));
  }

  // A symbol with its subscript and primes: "x_1", "y'", "\theta_0".
  NodePtr symbol_named(std::string name) {
    if (pos_ < s_.size() && s_[pos_] == '_') {
      ++pos_;
      NodePtr sub = parse_arg(false);
      name += "_" + debug_string(*sub);
    }
    for (; pos_ < s_.size() && s_[pos_] == '\''; ++pos_) name += '\'';
    return make_node(NodeKind::kSymbol, {}, name);
  }

  NodePtr parse_function(const std::string& name) {
    NodePtr power, base;
    if (eat("^")) power = parse_arg(true);
    if (eat("_")) base = parse_arg(true);
    NodePtr arg;
    if (at("(")) {
      eat("(");
      arg = parse_sum();
      expect(")");
    } else {
      arg = parse_power();
    }
    std::vector<NodePtr> args{arg};
    if (base) args.push_back(base);
    NodePtr f = make_node(NodeKind::kFunc, std::move(args), name == "lg" ? "log10" : name);
    return power ? make_node(NodeKind::kPow, {f, power}) : f;
  }

  // (a, b), [a, b), (a] ...: grouping, tuple or interval by brackets and size.
  NodePtr parse_bracketed(char open) {
    std::vector<NodePtr> items{parse_relation()};
    while (!failed() && eat(",")) items.push_back(parse_relation());
    skip_ws();
    char close = pos_ < s_.size() ? s_[pos_] : '\0';
    if (close != ')' && close != ']') return fail("expected ')' or ']'");
    ++pos_;
    bool mixed = (open == '(') != (close == ')');
    if (items.size() == 1 && !mixed) return items[0];
    bool infinite = false;
    for (const NodePtr& it : items) infinite |= is_infinity(*it);
    if (items.size() == 2 && (mixed || open == '[' || infinite)) {
      NodePtr iv = make_node(NodeKind::kInterval, items);
      auto m = std::const_pointer_cast<Node>(iv);
      m->left_open = open == '(';
      m->right_open = close == ')';
      return iv;
    }
    if (mixed) return fail("mismatched brackets");
    return make_node(NodeKind::kTuple, std::move(items));
  }

  static bool is_infinity(const Node& n) {
    if (n.kind == NodeKind::kConst && n.text == "inf") return true;
    return n.kind == NodeKind::kNeg && is_infinity(*n.kids[0]);
  }

  NodePtr parse_set() {
    std::vector<NodePtr> items;
    if (!at("\\}")) {
      items.push_back(parse_relation());
      while (!failed() && eat(",")) items.push_back(parse_relation());
    }
    expect("\\}");
    return make_node(NodeKind::kSet, std::move(items));
  }

  NodePtr parse_matrix() {
    expect("{");
    size_t name_end = s_.find('}', pos_);
    if (name_end == std::string_view::npos) return fail("unterminated \\begin");
    std::string env(s_.substr(pos_, name_end - pos_));
    pos_ = name_end + 1;
    if (env.find("matrix") == std::string::npos && env != "array") return fail("unsupported environment '" + env + "'");
    if (env == "array") skip_column_spec();
    std::vector<NodePtr> cells;
    int rows = 0, cols = -1, row_cols = 0;
    while (!failed()) {
      if (at("\\end")) break;
      cells.push_back(parse_sum());
      ++row_cols;
      if (eat("&")) continue;
      bool row_end = eat("\\\\");
      if (!row_end && !at("\\end")) return fail("expected '&', '\\\\' or '\\end' in matrix");
      if (cols >= 0 && cols != row_cols) return fail("matrix rows differ in length");
      cols = row_cols;
      row_cols = 0;
      ++rows;
      if (row_end && at("\\end")) break;
    }
    if (failed()) return make_node(NodeKind::kNumber, {}, "0");
    eat("\\end");
    expect("{" + env + "}");
    auto m = std::make_shared<Node>();
    m->kind = NodeKind::kMatrix;
    m->kids = std::move(cells);
    m->rows = rows;
    m->cols = cols < 0 ? 0 : cols;
    if (rows == 0) return fail("empty matrix");
    return m;
  }

  // "{c|cc}" after \begin{array}: column layout, not content.
  void skip_column_spec() {
    skip_ws();
    if (pos_ >= s_.size() || s_[pos_] != '{') return;
    size_t close = s_.find('}', pos_);
    pos_ = close == std::string_view::npos ? s_.size() : close + 1;
  }

  NodePtr parse_command() {
    if (eat_cmd("\\frac") || eat_cmd("\\cfrac")) {
      NodePtr num = parse_arg(false);
      NodePtr den = parse_arg(false);
      return make_node(NodeKind::kDiv, {num, den});
    }
    if (eat_cmd("\\sqrt")) {
      NodePtr index;
      if (eat("[")) {
        index = parse_sum();
        expect("]");
      }
      NodePtr arg = parse_arg(false);
      if (!index) return make_node(NodeKind::kFunc, {arg}, "sqrt");
      return make_node(NodeKind::kPow,
                       {arg, make_node(NodeKind::kDiv, {make_node(NodeKind::kNumber, {}, "1"), index})});
    }
    if (eat_cmd("\\binom") || eat_cmd("\\dbinom") || eat_cmd("\\tbinom")) {
      NodePtr n = parse_arg(false);
      return make_node(NodeKind::kFunc, {n, parse_arg(false)}, "binom");
    }
    if (eat_cmd("\\pi") || eat("π")) return make_node(NodeKind::kConst, {}, "pi");
    if (eat_cmd("\\infty") || eat("∞")) return make_node(NodeKind::kConst, {}, "inf");
    if (eat_cmd("\\imath") || eat_cmd("\\i")) return make_node(NodeKind::kConst, {}, "i");
    if (eat("\\{")) return parse_set();
    if (eat_cmd("\\begin")) return parse_matrix();
    if (eat_cmd("\\lfloor")) return closing_func("\\rfloor", "floor");
    if (eat_cmd("\\lceil")) return closing_func("\\rceil", "ceil");
    if (eat_cmd("\\text")) return fail("text inside a formula");
    for (const char* const* g = kGreek; *g; ++g) {
      std::string cmd = std::string("\\") + *g;
      if (eat_cmd(cmd)) return symbol_named(cmd);
    }
    for (const char* const* f = kFunctions; *f; ++f) {
      std::string cmd = std::string("\\") + *f;
      if (eat_cmd(cmd)) return parse_function(*f);
    }
    size_t end = pos_ + 1;
    while (end < s_.size() && is_alpha(s_[end])) ++end;
    return fail("unsupported command '" + std::string(s_.substr(pos_, end - pos_)) + "'");
  }

  NodePtr closing_func(std::string_view close, const char* name) {
    NodePtr inner = parse_sum();
    if (!eat_cmd(close)) return fail("expected '" + std::string(close) + "'");
    return make_node(NodeKind::kFunc, {inner}, name);
  }

  NodePtr parse_primary() {
    DepthGuard guard(*this);
    skip_ws();
    if (failed()) return make_node(NodeKind::kNumber, {}, "0");
    if (pos_ >= s_.size()) return fail("unexpected end of answer");
    char c = s_[pos_];
    if (is_digit(c) || (c == '.' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1]))) return parse_number();
    if (is_alpha(c)) return parse_symbol();
    if (c == '(' || c == '[') {
      ++pos_;
      return parse_bracketed(c);
    }
    if (c == '{') {
      ++pos_;
      NodePtr inner = parse_list();
      expect("}");
      return inner;
    }
    if (c == '|') {
      ++pos_;
      NodePtr inner = parse_sum();
      expect("|");
      return make_node(NodeKind::kFunc, {inner}, "abs");
    }
    if (c == '\\') return parse_command();
    if (at("π") || at("∞")) return parse_command();
    return fail(unexpected_here());
  }
};

bool is_choice(std::string_view s, char& letter) {
  if (s.size() == 3 && s[0] == '(' && s[2] == ')') s = s.substr(1, 1);
  if (s.size() == 1 && s[0] >= 'A' && s[0] <= 'E') {
    letter = s[0];
    return true;
  }
  return false;
}

// Words only ("Evelyn", "even", "no solution"): a plain-text answer.
bool is_text(std::string_view s) {
  size_t run = 0, longest = 0;
  if (!s.empty() && !is_alpha(s[0])) return false;
  for (char c : s) {
    if (is_alpha(c)) {
      longest = std::max(longest, ++run);
      continue;
    }
    run = 0;
    if (!is_space(c) && c != '-' && c != '\'') return false;
  }
  if (longest < 3) return false;
  std::string word;
  for (char c : s) if (is_alpha(c)) word += c;
  return !is_function_name(word);
}

}  // namespace

Result<NodePtr> parse_answer(std::string_view normalized, const ParseLimits& limits) {
  if (normalized.size() > limits.max_chars)
    return Status::error("answer has " + std::to_string(normalized.size()) + " characters, more than the limit of " +
                         std::to_string(limits.max_chars));
  size_t b = 0, e = normalized.size();
  while (b < e && is_space(normalized[b])) ++b;
  while (e > b && is_space(normalized[e - 1])) --e;
  std::string_view s = normalized.substr(b, e - b);
  if (s.empty()) return Status::error("empty answer");
  char letter;
  if (is_choice(s, letter)) return make_node(NodeKind::kChoice, {}, std::string(1, letter));
  if (is_text(s)) return make_node(NodeKind::kText, {}, canonical_text(s));
  return Parser(s, limits).parse();
}

size_t node_count(const Node& node) {
  size_t n = 1;
  for (const NodePtr& k : node.kids) n += node_count(*k);
  return n;
}

bool contains_float(const Node& node) {
  if (node.kind == NodeKind::kNumber && node.is_float) return true;
  for (const NodePtr& k : node.kids)
    if (contains_float(*k)) return true;
  return false;
}

void collect_symbols(const Node& node, std::vector<std::string>& out) {
  if (node.kind == NodeKind::kSymbol) {
    for (const std::string& s : out)
      if (s == node.text) return;
    out.push_back(node.text);
  }
  for (const NodePtr& k : node.kids) collect_symbols(*k, out);
}

std::string debug_string(const Node& node) {
  static const char* const kNames[] = {"num", "sym", "const", "add", "mul", "div", "pow", "neg", "func", "pct",
                                       "pm",  "tuple", "list", "set", "interval", "union", "matrix", "rel",
                                       "text", "choice"};
  if (node.kind == NodeKind::kNumber || node.kind == NodeKind::kSymbol) return node.text;
  std::string out = kNames[static_cast<int>(node.kind)];
  if (!node.text.empty()) out += ":" + node.text;
  if (node.kind == NodeKind::kInterval) out += std::string(node.left_open ? "(" : "[") + (node.right_open ? ")" : "]");
  out += "(";
  for (size_t i = 0; i < node.kids.size(); ++i) out += (i ? "," : "") + debug_string(*node.kids[i]);
  return out + ")";
}

}  // namespace r1
