#include "data/builtin_tasks.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>
#include <sstream>

#include "data/jsonl_dataset.h"
#include "util/json.h"

namespace r1 {
namespace {

TaskOptions opts(const std::string& task, const std::string& split, int64_t n, uint64_t seed) {
  TaskOptions o;
  o.task = task;
  o.split = split;
  o.n = n;
  o.seed = seed;
  return o;
}

// Exact rationals for the brute-force solver.
struct Frac {
  int64_t num, den;
};
Frac make(int64_t n, int64_t d) {
  if (d < 0) n = -n, d = -d;
  int64_t g = std::gcd(n, d);
  return {n / g, d / g};
}

// Is `target` reachable from `vals` using each once with + - * /?
bool solvable(std::vector<Frac> vals, int64_t target) {
  if (vals.size() == 1) return vals[0].den == 1 && vals[0].num == target;
  for (size_t i = 0; i < vals.size(); ++i)
    for (size_t j = 0; j < vals.size(); ++j) {
      if (i == j) continue;
      Frac a = vals[i], b = vals[j];
      std::vector<Frac> rest;
      for (size_t k = 0; k < vals.size(); ++k)
        if (k != i && k != j) rest.push_back(vals[k]);
      std::vector<Frac> results = {make(a.num * b.den + b.num * a.den, a.den * b.den),
                                   make(a.num * b.den - b.num * a.den, a.den * b.den),
                                   make(a.num * b.num, a.den * b.den)};
      if (b.num != 0) results.push_back(make(a.num * b.den, a.den * b.num));
      for (Frac r : results) {
        rest.push_back(r);
        if (solvable(rest, target)) return true;
        rest.pop_back();
      }
    }
  return false;
}

TEST(Tasks, SameSeedSameProblemsOtherSeedOthers) {
  for (const char* task : {"countdown", "arithmetic"}) {
    auto a = value_or_throw(generate_tasks(opts(task, "train", 200, 7)));
    auto b = value_or_throw(generate_tasks(opts(task, "train", 200, 7)));
    auto c = value_or_throw(generate_tasks(opts(task, "train", 200, 8)));
    ASSERT_EQ(a.size(), 200u);
    int same = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(task_row_json(task, a[i]), task_row_json(task, b[i]));
      same += a[i].prompt == c[i].prompt;
    }
    EXPECT_LT(same, 20) << task;
  }
}

TEST(Tasks, SplitsNeverShareAProblem) {
  for (const char* task : {"countdown", "arithmetic"}) {
    TaskOptions train = opts(task, "train", 10000, 1);
    TaskOptions held = opts(task, "heldout", 2000, 2);
    if (std::string(task) == "arithmetic") train.max_digits = held.max_digits = 3;
    auto tr = value_or_throw(generate_tasks(train));
    auto ho = value_or_throw(generate_tasks(held));
    std::set<std::string> train_prompts, train_canon;
    for (const auto& p : tr) {
      train_prompts.insert(p.prompt);
      train_canon.insert(p.canonical);
      ASSERT_FALSE(is_heldout(p.canonical, train.heldout_percent));
    }
    EXPECT_EQ(train_canon.size(), tr.size()) << "unique within the split";
    for (const auto& p : ho) {
      ASSERT_EQ(train_prompts.count(p.prompt), 0u) << p.prompt;
      ASSERT_EQ(train_canon.count(p.canonical), 0u) << p.canonical;
    }
  }
}

TEST(Tasks, HeldoutShareFollowsThePercentage) {
  TaskOptions o = opts("arithmetic", "train", 1, 0);
  int held = 0;
  for (int a = 0; a < 100; ++a)
    for (int b = a; b < 100; ++b) held += is_heldout("arithmetic:" + std::to_string(a) + " + " + std::to_string(b), 10);
  EXPECT_GT(held, 5050 * 7 / 100);
  EXPECT_LT(held, 5050 * 13 / 100);
  (void)o;
}

TEST(Countdown, TargetsAreReachableAndRowsComplete) {
  TaskOptions o = opts("countdown", "train", 300, 3);
  o.max_numbers = 4;
  for (const TaskProblem& p : value_or_throw(generate_tasks(o))) {
    ASSERT_GE(p.numbers.size(), 3u);
    ASSERT_LE(p.numbers.size(), 4u);
    for (int64_t v : p.numbers) ASSERT_TRUE(v >= 1 && v <= 99) << v;
    ASSERT_TRUE(p.target >= 1 && p.target <= o.max_target);
    std::vector<Frac> vals;
    for (int64_t v : p.numbers) vals.push_back({v, 1});
    ASSERT_TRUE(solvable(vals, p.target)) << p.prompt;
    ASSERT_NE(p.prompt.find("equals " + std::to_string(p.target)), std::string::npos);
    ASSERT_EQ(p.solution.rfind('\n'), std::string::npos) << "the countdown checker reads the final line";
    ASSERT_NE(p.solution.find("<answer>" + p.answer + "</answer>"), std::string::npos);
  }
}

TEST(Countdown, SmallRangesForTinyModels) {
  TaskOptions o = opts("countdown", "heldout", 50, 4);
  o.min_numbers = o.max_numbers = 3;
  o.max_number = 9;
  o.max_target = 30;
  for (const TaskProblem& p : value_or_throw(generate_tasks(o))) {
    ASSERT_EQ(p.numbers.size(), 3u);
    for (int64_t v : p.numbers) ASSERT_LE(v, 9);
    ASSERT_LE(p.target, 30);
  }
}

TEST(Arithmetic, AnswersMatchThePrompt) {
  TaskOptions o = opts("arithmetic", "train", 500, 5);
  o.min_digits = 2;
  o.max_digits = 4;
  for (const TaskProblem& p : value_or_throw(generate_tasks(o))) {
    std::istringstream in(p.prompt.substr(std::string("Compute ").size()));
    int64_t a, b;
    char op;
    in >> a >> op >> b;
    ASSERT_TRUE(a >= 10 && a <= 9999 && b >= 10 && b <= 9999) << p.prompt;
    int64_t want = op == '+' ? a + b : op == '-' ? a - b : a * b;
    ASSERT_EQ(p.answer, std::to_string(want)) << p.prompt;
    ASSERT_NE(p.solution.find("= " + p.answer + "</think>"), std::string::npos) << p.solution;
  }
}

// "a + b - c" read left to right; the worked steps only add and subtract.
int64_t sum_of_terms(const std::string& expression) {
  std::istringstream in(expression);
  int64_t total = 0, term = 0;
  char op = '+';
  in >> total;
  while (in >> op >> term) total = op == '+' ? total + term : total - term;
  return total;
}

TEST(Arithmetic, WorkedStepsAreEqualities) {
  TaskOptions o = opts("arithmetic", "train", 300, 9);
  o.max_digits = 3;
  o.ops = "+-";
  for (const TaskProblem& p : value_or_throw(generate_tasks(o))) {
    size_t begin = p.solution.find("<think>") + 7, end = p.solution.find("</think>");
    std::string think = p.solution.substr(begin, end - begin);
    // Every side of "x = y = z" has the answer's value: 47 + 38 = 70 + 15 = 85.
    for (size_t at = 0;;) {
      size_t eq = think.find(" = ", at);
      ASSERT_EQ(std::to_string(sum_of_terms(think.substr(at, eq - at))), p.answer) << p.solution;
      if (eq == std::string::npos) break;
      at = eq + 3;
    }
  }
  TaskProblem one = value_or_throw(generate_tasks(opts("arithmetic", "train", 1, 0)))[0];
  EXPECT_NE(one.solution.find("</think> <answer>" + one.answer + "</answer>"), std::string::npos);
}

TEST(Tasks, ExhaustedSpaceAndBadOptionsAreErrors) {
  TaskOptions o = opts("arithmetic", "heldout", 1000, 0);
  o.max_digits = 1;
  o.ops = "+";
  Result<std::vector<TaskProblem>> r = generate_tasks(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("distinct problems"), std::string::npos) << r.status().message();
  o.unique = false;
  EXPECT_TRUE(generate_tasks(o).ok());
  EXPECT_FALSE(generate_tasks(opts("sudoku", "train", 1, 0)).ok());
  EXPECT_FALSE(generate_tasks(opts("countdown", "test", 1, 0)).ok());
  TaskOptions bad = opts("countdown", "train", 1, 0);
  bad.min_number = 50;
  bad.max_number = 10;
  EXPECT_NE(generate_tasks(bad).status().message().find("min_number"), std::string::npos);
  bad = opts("arithmetic", "train", 1, 0);
  bad.ops = "+/";
  EXPECT_NE(generate_tasks(bad).status().message().find("ops"), std::string::npos);
}

TEST(Tasks, ExamplesCarryTheCheckerFields) {
  auto cd = value_or_throw(generate_tasks(opts("countdown", "train", 5, 9)));
  std::vector<Example> ex = task_examples("countdown", cd);
  rapidjson::Document ref = value_or_throw(reference_document(ex[2]));
  ASSERT_TRUE(ref["numbers"].IsArray());
  EXPECT_EQ(ref["numbers"].Size(), cd[2].numbers.size());
  EXPECT_EQ(ref["target"].GetInt64(), cd[2].target);
  auto ar = value_or_throw(generate_tasks(opts("arithmetic", "train", 5, 9)));
  Example e = task_examples("arithmetic", ar)[1];
  EXPECT_EQ(e.answer, ar[1].answer);
  EXPECT_EQ(std::string(value_or_throw(reference_document(e))["answer"].GetString()), ar[1].answer);
}

// General rows: the same problems (the same split), asked for a brief
// answer, with their own ids and "kind" in the row and the references.
TEST(Tasks, GeneralRowsAreTheSameProblemsMarkedGeneral) {
  TaskOptions general = opts("arithmetic", "heldout", 20, 3);
  general.kind = "general";
  auto g = value_or_throw(generate_tasks(general));
  auto r = value_or_throw(generate_tasks(opts("arithmetic", "heldout", 20, 3)));
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_EQ(g[i].canonical, r[i].canonical);
    EXPECT_EQ(g[i].prompt, "Briefly: " + r[i].prompt);
    EXPECT_EQ(g[i].id, "arithmetic-general-" + r[i].id.substr(11));
    EXPECT_EQ(r[i].kind, "reasoning");
  }
  rapidjson::Document row = value_or_throw(parse_json(task_row_json("arithmetic", g[0]), "row"));
  EXPECT_EQ(std::string(row["kind"].GetString()), "general");
  Example e = task_examples("arithmetic", g)[0];
  EXPECT_EQ(std::string(value_or_throw(reference_document(e))["kind"].GetString()), "general");
  TaskOptions bad = opts("countdown", "train", 5, 1);
  bad.kind = "general";
  EXPECT_NE(validate_task_options(bad).message().find("kind general needs task arithmetic"), std::string::npos);
  bad.task = "arithmetic";
  bad.kind = "chat";
  EXPECT_NE(validate_task_options(bad).message().find("unknown kind 'chat'"), std::string::npos);
}

TEST(Tasks, SftRowsContinueTheR1ZeroPrompt) {
  TaskOptions o = opts("arithmetic", "train", 6, 4);
  auto problems = value_or_throw(generate_tasks(o));
  auto rows = value_or_throw(task_rows_json(o, "sft"));
  ASSERT_EQ(rows.size(), problems.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    rapidjson::Document row = value_or_throw(parse_json(rows[i], "row"));
    EXPECT_EQ(std::string(row["prompt"].GetString()), problems[i].prompt);
    EXPECT_EQ(std::string(row["completion"].GetString()), " " + problems[i].solution);
  }
  EXPECT_EQ(value_or_throw(task_rows_json(o, "rows"))[0], task_row_json("arithmetic", problems[0]));
  EXPECT_NE(task_rows_json(o, "pairs").status().message().find("not one of rows, sft, preferences"),
            std::string::npos);
  EXPECT_FALSE(task_rows_json(opts("countdown", "train", 2, 1), "preferences").ok());
}

// chosen: the worked solution; rejected: in turn the same steps ending in a
// wrong result (in the last step and the answer), the steps said three
// times, and a terse wrong guess.
TEST(Tasks, PreferencePairsPreferConciseCorrectAnswers) {
  TaskOptions o = opts("arithmetic", "train", 40, 5);
  o.kind = "general";
  auto problems = value_or_throw(generate_tasks(o));
  auto rows = value_or_throw(task_rows_json(o, "preferences"));
  for (size_t i = 0; i < rows.size(); ++i) {
    rapidjson::Document row = value_or_throw(parse_json(rows[i], "row"));
    std::string chosen = row["chosen"].GetString(), rejected = row["rejected"].GetString();
    const TaskProblem& p = problems[i];
    EXPECT_EQ(chosen, " " + p.solution);
    EXPECT_EQ(std::string(row["kind"].GetString()), "general");
    if (i % 3 == 1) {
      EXPECT_GT(rejected.size(), chosen.size() + 10) << rejected;
      EXPECT_NE(rejected.find("<answer>" + p.answer + "</answer>"), std::string::npos);
      continue;
    }
    if (i % 3 == 2) {
      EXPECT_LE(rejected.size(), chosen.size()) << rejected;
      EXPECT_EQ(rejected.find("<answer>" + p.answer + "</answer>"), std::string::npos) << rejected;
      continue;
    }
    int64_t wrong = std::stoll(rejected.substr(rejected.find("<answer>") + 8));
    int64_t off = wrong - std::stoll(p.answer);
    EXPECT_TRUE(off == 1 || off == -1 || off == 10 || off == -10 || wrong == -std::stoll(p.answer)) << rejected;
    EXPECT_NE(wrong, std::stoll(p.answer));
    EXPECT_NE(rejected.find("= " + std::to_string(wrong) + "</think>"), std::string::npos) << rejected;
  }
}

TEST(Corpus, PromptPlusSolutionFromTrainOnly) {
  TaskOptions o = opts("countdown", "heldout", 100, 11);
  ChatTemplate r1z = value_or_throw(parse_chat_template("r1_zero"));
  std::vector<std::string> texts = value_or_throw(task_pretraining_corpus(o, r1z));
  ASSERT_EQ(texts.size(), 100u);
  auto train = value_or_throw(generate_tasks(opts("countdown", "train", 100, 11)));
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(texts[i], std::string(kR1ZeroPrefix) + train[i].prompt + kR1ZeroSuffix + " " + train[i].solution);
  }
}

}  // namespace
}  // namespace r1
