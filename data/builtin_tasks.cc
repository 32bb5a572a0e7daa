#include "data/builtin_tasks.h"

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "data/jsonl_dataset.h"
#include "util/json.h"

namespace r1 {

namespace {

// SplitMix64: tiny, and the same stream on every platform and standard
// library (std:: distributions are not), so a seed names one dataset.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] by rejection, so no value is favoured.
  int64_t uniform(int64_t lo, int64_t hi) {
    uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
    uint64_t limit = UINT64_MAX - UINT64_MAX % range;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return lo + static_cast<int64_t>(x % range);
  }

 private:
  uint64_t state_;
};

uint64_t hash_text(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a, then a SplitMix finish to spread low bits
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string join_numbers(const std::vector<int64_t>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + std::to_string(v[i]);
  return out;
}

// One node of a Countdown expression while it is being built.
struct Term {
  int64_t value;
  std::string text;
  bool atom;
};

std::string operand(const Term& t) { return t.atom ? t.text : "(" + t.text + ")"; }

// Combines two terms with a random operator that keeps every intermediate a
// positive integer (so the checker's float evaluation is exact).
Term combine(const Term& a, const Term& b, Rng& rng, std::vector<std::string>& steps) {
  struct Choice {
    char op;
    const Term* x;
    const Term* y;
  };
  std::vector<Choice> choices = {{'+', &a, &b}, {'*', &a, &b}};
  if (a.value != b.value) choices.push_back({'-', a.value > b.value ? &a : &b, a.value > b.value ? &b : &a});
  if (b.value > 1 && a.value % b.value == 0) choices.push_back({'/', &a, &b});
  if (a.value > 1 && b.value % a.value == 0) choices.push_back({'/', &b, &a});
  const Choice& c = choices[rng.uniform(0, static_cast<int64_t>(choices.size()) - 1)];
  int64_t x = c.x->value, y = c.y->value;
  int64_t r = c.op == '+' ? x + y : c.op == '-' ? x - y : c.op == '*' ? x * y : x / y;
  std::string op = std::string(" ") + c.op + " ";
  steps.push_back(std::to_string(x) + op + std::to_string(y) + " = " + std::to_string(r));
  return {r, operand(*c.x) + op + operand(*c.y), false};
}

// A random expression over all of `numbers`, each used once.
Term random_expression(const std::vector<int64_t>& numbers, Rng& rng, std::vector<std::string>& steps) {
  std::vector<Term> terms;
  for (int64_t v : numbers) terms.push_back({v, std::to_string(v), true});
  while (terms.size() > 1) {
    int64_t i = rng.uniform(0, static_cast<int64_t>(terms.size()) - 1);
    int64_t j = rng.uniform(0, static_cast<int64_t>(terms.size()) - 2);
    if (j >= i) ++j;
    Term t = combine(terms[i], terms[j], rng, steps);
    terms.erase(terms.begin() + std::max(i, j));
    terms.erase(terms.begin() + std::min(i, j));
    terms.push_back(std::move(t));
  }
  return terms[0];
}

std::optional<TaskProblem> countdown_problem(const TaskOptions& o, Rng& rng) {
  TaskProblem p;
  int64_t count = rng.uniform(o.min_numbers, o.max_numbers);
  for (int64_t i = 0; i < count; ++i) p.numbers.push_back(rng.uniform(o.min_number, o.max_number));
  std::vector<std::string> steps;
  Term expr = random_expression(p.numbers, rng, steps);
  if (expr.value < 1 || expr.value > o.max_target) return std::nullopt;
  p.target = expr.value;
  std::vector<int64_t> sorted = p.numbers;
  std::sort(sorted.begin(), sorted.end());
  p.canonical = "countdown:" + join_numbers(sorted, ",") + "=" + std::to_string(p.target);
  // No final period: the r1_zero template appends ". Assistant:" itself.
  p.prompt = "Using the numbers [" + join_numbers(p.numbers, ", ") + "], create an equation that equals " +
             std::to_string(p.target);
  p.answer = expr.text;
  std::string think;
  for (size_t i = 0; i < steps.size(); ++i) think += (i ? ", " : "") + steps[i];
  p.solution = "<think>" + think + "</think> <answer>" + p.answer + "</answer>";
  return p;
}

int64_t random_operand(const TaskOptions& o, Rng& rng) {
  int64_t digits = rng.uniform(o.min_digits, o.max_digits);
  int64_t lo = 1;
  for (int64_t i = 1; i < digits; ++i) lo *= 10;
  return rng.uniform(digits == 1 ? 0 : lo, lo * 10 - 1);
}

// b's nonzero place values, highest first: 308 -> {300, 8}.
std::vector<int64_t> place_parts(int64_t b) {
  std::vector<int64_t> parts;
  for (int64_t place = 1; place <= b; place *= 10)
    if (int64_t d = (b / place) % 10) parts.push_back(d * place);
  std::reverse(parts.begin(), parts.end());
  return parts;
}

// Long multiplication as partial products by the digits of b.
std::string multiplication_steps(int64_t a, int64_t b) {
  std::string head = std::to_string(a) + " * " + std::to_string(b) + " = ";
  std::vector<int64_t> parts = place_parts(b);
  if (parts.size() < 2) return head + std::to_string(a * b);
  std::string split, partial;
  for (size_t i = 0; i < parts.size(); ++i) {
    split += (i ? " + " : "") + std::to_string(a) + " * " + std::to_string(parts[i]);
    partial += (i ? " + " : "") + std::to_string(a * parts[i]);
  }
  return head + split + " = " + partial + " = " + std::to_string(a * b);
}

// Addition and subtraction by place: each place's digit sum (or
// difference), then their total. 47 + 38 = 70 + 15 = 85,
// 47 - 38 = 10 - 1 = 9, 10 - 44 = -30 - 4 = -34. A small model learns the
// one-digit facts each place needs and how a multiple of ten combines with
// a units term; those carry over to problems it has never seen.
std::string place_steps(int64_t a, char op, int64_t b) {
  int64_t sign = op == '+' ? 1 : -1;
  std::vector<int64_t> terms;  // lowest place first
  for (int64_t place = 1; place <= std::max(a, b); place *= 10)
    if (int64_t t = ((a / place) % 10 + sign * ((b / place) % 10)) * place) terms.push_back(t);
  std::string line = std::to_string(a) + " " + op + " " + std::to_string(b) + " = ";
  if (terms.size() >= 2) {
    for (size_t i = terms.size(); i-- > 0;) {
      bool first = i + 1 == terms.size();
      line += first ? std::to_string(terms[i]) : (terms[i] < 0 ? " - " : " + ") + std::to_string(std::abs(terms[i]));
    }
    line += " = ";
  }
  return line + std::to_string(a + sign * b);
}

TaskProblem arithmetic_problem(const TaskOptions& o, Rng& rng) {
  TaskProblem p;
  int64_t a = random_operand(o, rng), b = random_operand(o, rng);
  char op = o.ops[rng.uniform(0, static_cast<int64_t>(o.ops.size()) - 1)];
  int64_t r = op == '+' ? a + b : op == '-' ? a - b : a * b;
  std::string text = std::to_string(a) + " " + op + " " + std::to_string(b);
  bool commutative = op != '-';
  p.canonical = "arithmetic:" + (commutative ? std::to_string(std::min(a, b)) + " " + op + " " +
                                                   std::to_string(std::max(a, b))
                                             : text);
  // General asks first, so the problem ends the prompt as in reasoning rows.
  p.prompt = (o.kind == "general" ? "Briefly: Compute " : "Compute ") + text;
  p.answer = std::to_string(r);
  std::string think = op == '*' ? multiplication_steps(a, b) : place_steps(a, op, b);
  p.solution = "<think>" + think + "</think> <answer>" + p.answer + "</answer>";
  return p;
}

Status check_range(const char* lo_name, int64_t lo, const char* hi_name, int64_t hi, int64_t min_lo, int64_t max_hi) {
  if (lo < min_lo || hi > max_hi || lo > hi)
    return Status::error(std::string("task options: need ") + std::to_string(min_lo) + " <= " + lo_name + " <= " +
                         hi_name + " <= " + std::to_string(max_hi) + ", got " + lo_name + "=" + std::to_string(lo) +
                         ", " + hi_name + "=" + std::to_string(hi));
  return Status();
}

}  // namespace

Status validate_task_options(const TaskOptions& o) {
  if (o.task != "countdown" && o.task != "arithmetic")
    return Status::error("task options: unknown task '" + o.task + "' (expected countdown or arithmetic)");
  if (o.split != "train" && o.split != "heldout")
    return Status::error("task options: unknown split '" + o.split + "' (expected train or heldout)");
  if (o.n < 1) return Status::error("task options: n must be >= 1, got " + std::to_string(o.n));
  if (o.heldout_percent < 1 || o.heldout_percent > 99)
    return Status::error("task options: heldout_percent must be in 1..99, got " + std::to_string(o.heldout_percent));
  if (o.kind != "reasoning" && o.kind != "general")
    return Status::error("task options: unknown kind '" + o.kind + "' (expected reasoning or general)");
  if (o.kind == "general" && o.task != "arithmetic")
    return Status::error("task options: kind general needs task arithmetic, got '" + o.task + "'");
  R1_RETURN_IF_ERROR(check_range("min_numbers", o.min_numbers, "max_numbers", o.max_numbers, 2, 6));
  R1_RETURN_IF_ERROR(check_range("min_number", o.min_number, "max_number", o.max_number, 1, 9999));
  if (o.max_target < 1) return Status::error("task options: max_target must be >= 1");
  R1_RETURN_IF_ERROR(check_range("min_digits", o.min_digits, "max_digits", o.max_digits, 1, 9));
  if (o.ops.empty() || o.ops.find_first_not_of("+-*") != std::string::npos)
    return Status::error("task options: ops must be a non-empty subset of \"+-*\", got \"" + o.ops + "\"");
  return Status();
}

bool is_heldout(const std::string& canonical, int heldout_percent) {
  return static_cast<int>(hash_text(canonical) % 100) < heldout_percent;
}

Result<std::vector<TaskProblem>> generate_tasks(const TaskOptions& o) {
  R1_RETURN_IF_ERROR(validate_task_options(o));
  Rng rng(o.seed);
  const bool want_heldout = o.split == "heldout";
  const int64_t max_draws = 200 * o.n + 100000;
  std::vector<TaskProblem> out;
  std::unordered_set<std::string> seen;
  for (int64_t draw = 0; draw < max_draws && static_cast<int64_t>(out.size()) < o.n; ++draw) {
    std::optional<TaskProblem> p =
        o.task == "countdown" ? countdown_problem(o, rng) : std::optional<TaskProblem>(arithmetic_problem(o, rng));
    if (!p || is_heldout(p->canonical, o.heldout_percent) != want_heldout) continue;
    if (o.unique && !seen.insert(p->canonical).second) continue;
    p->id = o.task + (o.kind == "general" ? "-general-" : "-") + hex16(hash_text(p->canonical));
    p->kind = o.kind;
    out.push_back(std::move(*p));
  }
  if (static_cast<int64_t>(out.size()) < o.n)
    return Status::error(o.task + " " + o.split + ": only " + std::to_string(out.size()) +
                         " distinct problems found for n=" + std::to_string(o.n) + " after " +
                         std::to_string(max_draws) + " draws; widen the number/digit ranges or ask for fewer");
  return out;
}

std::string task_row_json(const std::string& task, const TaskProblem& p) {
  JsonWriter w;
  w.begin_object().key("id").value(p.id).key("prompt").value(p.prompt).key("kind").value(p.kind);
  if (task == "countdown") {
    w.key("numbers").array(p.numbers).key("target").value(p.target);
  } else {
    w.key("answer").value(p.answer);
  }
  w.key("solution").value(p.solution);
  w.end_object();
  return w.str();
}

std::vector<Example> task_examples(const std::string& task, const std::vector<TaskProblem>& problems) {
  std::vector<Example> out;
  for (size_t i = 0; i < problems.size(); ++i) {
    const TaskProblem& p = problems[i];
    Example e;
    e.index = static_cast<int64_t>(i);
    e.id = p.id;
    e.prompt = p.prompt;
    e.where = task + "[" + std::to_string(i) + "]";
    JsonWriter w;
    w.begin_object().key("kind").value(p.kind);
    if (task == "countdown") {
      w.key("numbers").array(p.numbers).key("target").value(p.target);
    } else {
      e.answer = p.answer;
      w.key("answer").value(p.answer);
    }
    w.end_object();
    e.reference_json = w.str();
    out.push_back(std::move(e));
  }
  return out;
}

namespace {

// "<think>steps</think> <answer>result</answer>" -> (steps, result).
std::pair<std::string, std::string> solution_parts(const std::string& solution) {
  size_t open = solution.find("<think>") + 7, close = solution.find("</think>");
  size_t answer = solution.find("<answer>") + 8, answer_end = solution.find("</answer>");
  return {solution.substr(open, close - open), solution.substr(answer, answer_end - answer)};
}

std::string solution_of(const std::string& steps, const std::string& result) {
  return "<think>" + steps + "</think> <answer>" + result + "</answer>";
}

// The rejected side of problem `i`'s pair, in turn: a wrong result (off by 1
// or 10, or of the wrong sign, in the steps' last line and the answer);
// rambling steps; and a terse guess, the steps skipped and the result's last
// digit dropped (what a policy trained on the first two alone learned to
// write: shorter than any chosen answer, and wrong).
std::string rejected_solution(const TaskProblem& p, size_t i) {
  auto [steps, result] = solution_parts(p.solution);
  if (i % 3 == 1) return solution_of(steps + " " + steps + " " + steps, result);
  const int64_t value = std::stoll(result);
  if (i % 3 == 2) {
    std::string guess = std::to_string(value / 10 != 0 ? value / 10 : value + 1);
    return solution_of(steps.substr(0, steps.find(" = ")) + " = " + guess, guess);
  }
  const int64_t offsets[] = {1, -1, 10, -10};
  const uint64_t pick = hash_text(p.canonical) % 6;
  std::string wrong = std::to_string(pick >= 4 && value != 0 ? -value : value + offsets[pick % 4]);
  steps.replace(steps.rfind(result), result.size(), wrong);
  return solution_of(steps, wrong);
}

}  // namespace

Result<std::vector<std::string>> task_rows_json(const TaskOptions& options, const std::string& form) {
  if (form != "rows" && form != "sft" && form != "preferences")
    return Status::error("task form '" + form + "' is not one of rows, sft, preferences");
  if (form == "preferences" && options.task != "arithmetic")
    return Status::error("task form preferences needs task arithmetic, got '" + options.task + "'");
  R1_ASSIGN_OR_RETURN(std::vector<TaskProblem> problems, generate_tasks(options));
  std::vector<std::string> rows;
  for (size_t i = 0; i < problems.size(); ++i) {
    const TaskProblem& p = problems[i];
    if (form == "rows") {
      rows.push_back(task_row_json(options.task, p));
      continue;
    }
    JsonWriter w;
    w.begin_object().key("id").value(p.id).key("prompt").value(p.prompt);
    // As the model continues an r1_zero prompt ("... Assistant:"): after a space.
    if (form == "sft")
      w.key("completion").value(" " + p.solution);
    else
      w.key("chosen").value(" " + p.solution).key("rejected").value(" " + rejected_solution(p, i));
    w.key("kind").value(p.kind).end_object();
    rows.push_back(w.str());
  }
  return rows;
}

Result<std::vector<std::string>> task_pretraining_corpus(const TaskOptions& options,
                                                         const std::optional<ChatTemplate>& tmpl) {
  TaskOptions train = options;
  train.split = "train";
  R1_ASSIGN_OR_RETURN(std::vector<TaskProblem> problems, generate_tasks(train));
  std::vector<Example> examples = task_examples(train.task, problems);
  std::vector<std::string> texts;
  for (size_t i = 0; i < problems.size(); ++i) {
    R1_ASSIGN_OR_RETURN(std::string prompt, render_prompt(examples[i], tmpl));
    bool open_line = !prompt.empty() && prompt.back() == '\n';
    texts.push_back(prompt + (open_line ? "" : " ") + problems[i].solution);
  }
  return texts;
}

}  // namespace r1
