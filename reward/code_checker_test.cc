// The checker's test forms and statuses, and the canonical solutions of
// HumanEval and MBPP (every 10th item by default; all with R1_CODE_FULL=1,
// the `code_datasets_full` CTest test labelled slow).
#include "reward/code_checker.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "reward/code_formats.h"
#include "reward/code_pool.h"
#include "util/jsonl.h"

namespace r1 {
namespace {

CodeCheckOptions test_options(double timeout_s = 5) {
  CodeCheckOptions o;
  o.sandbox.timeout_s = timeout_s;
  o.sandbox.memory_mb = 512;
  return o;
}

std::vector<std::string> statuses(const CheckResult& r) {
  std::vector<std::string> out;
  for (const auto& t : r.tests) out.push_back(test_status_name(t.status));
  return out;
}

CheckResult check(const CodeProblem& p, const CodeCheckOptions& o = test_options()) {
  auto r = check_code(p, o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : CheckResult{};
}

using V = std::vector<std::string>;

TEST(CodeChecker, NormalizesTrailingWhitespace) {
  EXPECT_EQ(normalize_output("a  \r\nb\t\n\n\n"), "a\nb\n");
  EXPECT_EQ(normalize_output("a\nb"), "a\nb\n");
  EXPECT_NE(normalize_output(" a\n"), normalize_output("a\n"));  // leading space matters
}

TEST(CodeChecker, StdinStdoutCases) {
  CodeProblem p;
  p.program = "a, b = map(int, input().split())\nprint(a + b, '  ')\nif a == 9: raise ValueError('nine')\n";
  p.tests.io = {{"1 2\n", "3\n"}, {"2 2\n", "5"}, {"9 1\n", "10\n"}, {"", "0\n"}};
  CheckResult r = check(p);
  EXPECT_EQ(statuses(r), (V{"pass", "wrong_answer", "runtime_error", "runtime_error"}));
  EXPECT_DOUBLE_EQ(r.score, 0.25);
  EXPECT_NE(r.tests[2].detail.find("ValueError: nine"), std::string::npos) << r.tests[2].detail;
  EXPECT_NE(r.tests[3].detail.find("EOFError"), std::string::npos) << r.tests[3].detail;
}

TEST(CodeChecker, TimeoutAndMemoryLimitInIoCases) {
  CodeProblem p;
  p.program = "x = input()\nif x == 'loop':\n    while True: pass\nblob = bytearray(4 << 30)\n";
  p.tests.io = {{"loop\n", ""}, {"mem\n", ""}};
  CodeCheckOptions o = test_options();
  o.sandbox.timeout_s = 1;
  CheckResult r = check(p, o);
  EXPECT_EQ(statuses(r), (V{"timeout", "memory_limit"}));
}

TEST(CodeChecker, MbppAssertsGetPartialCredit) {
  CodeProblem p;
  p.program = "def f(x):\n    if x == 3: raise KeyError(x)\n    return x * 2 if x != 2 else 5\n";
  p.tests.setup = "import math";
  p.tests.asserts = {"assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 6", "assert f(math.floor(4.5)) == 8"};
  CheckResult r = check(p);
  EXPECT_EQ(statuses(r), (V{"pass", "wrong_answer", "runtime_error", "pass"}));
  EXPECT_DOUBLE_EQ(r.score, 0.5);
  EXPECT_EQ(r.tests[1].name, "assert f(2) == 4");
  EXPECT_NE(r.tests[2].detail.find("KeyError"), std::string::npos) << r.tests[2].detail;
}

TEST(CodeChecker, OneHangingAssertDoesNotHideTheOthers) {
  CodeProblem p;
  p.program = "def f(x):\n    while x == 2: pass\n    if x == 3: return bytearray(4 << 30)\n    return x\n";
  p.tests.asserts = {"assert f(1) == 1", "assert f(2) == 2", "assert f(3) == 3", "assert f(4) == 4"};
  CodeCheckOptions o = test_options();
  o.sandbox.timeout_s = 1;
  CheckResult r = check(p, o);
  EXPECT_EQ(statuses(r), (V{"pass", "timeout", "memory_limit", "pass"}));
}

TEST(CodeChecker, HumanEvalCheckIsSplitIntoAsserts) {
  CodeProblem p;
  p.program = "def add(a, b):\n    return a + b if a != 2 else 0\n";
  p.tests.setup =
      "METADATA = {}\n\ndef check(candidate):\n    xs = [1, 2]\n    assert candidate(1, 1) == 2\n"
      "    assert candidate(2, 2) == 4\n    for x in xs:\n        assert candidate(x, 0) == x\n"
      "    assert candidate(5, 5) == 10\n";
  p.tests.entry_point = "add";
  CheckResult r = check(p);
  EXPECT_EQ(statuses(r), (V{"pass", "wrong_answer", "wrong_answer", "pass"}));
  EXPECT_EQ(r.tests[2].name, "for x in xs:\n        assert candidate(x, 0) == x");
}

TEST(CodeChecker, MissingEntryPointAndSyntaxErrorFailEveryTest) {
  CodeProblem p;
  p.program = "def other(): pass\n";
  p.tests.setup = "def check(candidate):\n    assert candidate() is None\n    assert True\n";
  p.tests.entry_point = "f";
  EXPECT_EQ(statuses(check(p)), (V{"runtime_error", "runtime_error"}));
  p.program = "def f(:\n";
  CheckResult r = check(p);
  EXPECT_EQ(statuses(r), (V{"runtime_error", "runtime_error"}));
  EXPECT_NE(r.tests[0].detail.find("SyntaxError"), std::string::npos) << r.tests[0].detail;
}

TEST(CodeChecker, EarlyExitIsNotAPass) {
  CodeProblem p;
  p.tests.asserts = {"assert f() == 1", "assert f() == 2"};
  for (const char* exit : {"import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n"}) {
    p.program = std::string("def f(): return 1\n") + exit;
    CheckResult r = check(p);
    EXPECT_EQ(r.passed, 0) << exit;
    EXPECT_EQ(statuses(r), (V{"runtime_error", "runtime_error"})) << exit;
  }
}

TEST(CodeChecker, ForgedResultLinesAreIgnored) {
  CodeProblem p;
  // Fake PASS lines on stdout and fake records without the secret on the
  // results fd, then exit before the real tests run.
  p.program =
      "import os\nfor i in range(3):\n    print('PASS', i)\n"
      "    os.write(3, b'guess test %d pass \\n' % i)\n"
      "    os.write(3, b'{\"k\": \"test\", \"i\": %d, \"status\": \"pass\"}\\n' % i)\n"
      "def f(): return 0\nos._exit(0)\n";
  p.tests.asserts = {"assert f() == 1", "assert f() == 2", "assert f() == 3"};
  CheckResult r = check(p);
  EXPECT_EQ(r.passed, 0);
  EXPECT_EQ(r.tests.size(), 3u);
}

TEST(CodeChecker, SandboxFailureIsSandboxError) {
  CodeProblem p;
  p.program = "def f(): return 1\n";
  p.tests.asserts = {"assert f() == 1"};
  p.tests.io = {{"", ""}};
  CodeCheckOptions o = test_options();
  o.sandbox.bwrap = "/nonexistent/bwrap";
  EXPECT_EQ(statuses(check(p, o)), (V{"sandbox_error", "sandbox_error"}));
}

TEST(CodeChecker, NoTestsIsAnError) {
  CodeProblem p;
  p.program = "print(1)";
  EXPECT_FALSE(check_code(p, test_options()).ok());
}

TEST(CodeFormats, RowsAndErrors) {
  auto doc = parse_json(R"J({"program": "print(input())", "tests": {"io": [{"input": "x", "output": "x"}]}})J", "t");
  auto p = code_problem_from_row(*doc, CodeRowFormat::generic, "rows.jsonl:3");
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(check(*p).score, 1.0);
  auto bad = parse_json(R"J({"program": "x", "tests": {"asserts": [1]}})J", "t");
  EXPECT_EQ(code_problem_from_row(*bad, CodeRowFormat::generic, "rows.jsonl:4").status().message(),
            "rows.jsonl:4: tests: field 'asserts' must be an array of strings");
  auto mbpp = parse_json(R"J({"task_id": 7, "code": "x = 1", "test_list": []})J", "t");
  EXPECT_EQ(code_problem_from_row(*mbpp, CodeRowFormat::mbpp, "m:1").status().message(),
            "m:1: field 'test_list' must be a non-empty array of strings");
  EXPECT_EQ(code_row_id(*mbpp), "7");
  EXPECT_FALSE(parse_code_row_format("apps").ok());
}

// ---- datasets ----

// Tests run in the repo root; the shared data sits beside the checkout.
std::string data_file(const std::string& relative) {
  const char* dir = std::getenv("R1_DATA_DIR");
  return std::string(dir && *dir ? dir : "../shared/data") + "/" + relative;
}
const std::string kHumanEval = data_file("humaneval/HumanEval.jsonl");
const std::string kMbpp = data_file("mbpp/mbpp.jsonl");
// Generous per test: a few canonical solutions take seconds of CPU (MBPP 123),
// and the machine running the tests may be busy.
constexpr double kDatasetTimeout = 30;

// Makes the functions the tests call (by name) return a wrong value; only the
// outermost call is changed, so recursion and helpers cannot undo it.
const char* kMutator = R"PY(

import re as _r1_re

def _r1_mutate(r):
    if isinstance(r, bool): return not r
    if isinstance(r, (int, float)): return r + 1
    if isinstance(r, str): return r + "~"
    if isinstance(r, list): return r + [None]
    if isinstance(r, tuple): return r + (None,)
    if r is None: return 0
    return None

def _r1_wrap(f):
    depth = [0]
    def wrapper(*a, **k):
        depth[0] += 1
        try:
            r = f(*a, **k)
        finally:
            depth[0] -= 1
        return _r1_mutate(r) if depth[0] == 0 else r
    return wrapper

for _r1_name, _r1_fn in list(globals().items()):
    if (isinstance(_r1_fn, type(_r1_mutate)) and not _r1_name.startswith("_r1")
            and _r1_re.search(r"\b" + _r1_name + r"\s*\(", _R1_CALLED)):
        globals()[_r1_name] = _r1_wrap(_r1_fn)
)PY";

// Python source binding _R1_CALLED to the text that names the tested functions.
std::string called_text(const CodeProblem& p) {
  std::string text = p.tests.entry_point.empty() ? "" : p.tests.entry_point + "(";
  for (const auto& a : p.tests.asserts) text += a + "\n";
  JsonWriter w;
  w.begin_array().value(text).end_array();
  return "\n_R1_CALLED = " + w.str() + "[0]\n";
}

struct Item {
  std::string id;
  CodeProblem problem;
};

size_t stride() { return std::getenv("R1_CODE_FULL") ? 1 : 10; }

std::vector<Item> load(const char* path, CodeRowFormat format) {
  std::vector<Item> items;
  auto reader = JsonlReader::open(path);
  if (!reader.ok()) return items;
  rapidjson::Document doc;
  for (size_t i = 0; *reader->next(doc); ++i) {
    if (i % stride() != 0) continue;
    auto p = code_problem_from_row(doc, format, reader->where());
    EXPECT_TRUE(p.ok()) << p.status().message();
    if (p.ok()) items.push_back({code_row_id(doc), *p});
  }
  return items;
}

// Task ids with known upstream problems, from reward/testdata/code_known_broken.txt.
std::set<std::string> known_broken() {
  std::set<std::string> out;
  std::ifstream in("reward/testdata/code_known_broken.txt");
  std::string line;
  while (std::getline(in, line)) {
    std::string id = line.substr(0, line.find('#'));
    id.erase(id.find_last_not_of(" \t") + 1);
    if (!id.empty()) out.insert(id);
  }
  return out;
}

std::string summary(const Item& item, const Result<CheckResult>& r) {
  if (!r.ok()) return item.id + ": " + r.status().message();
  std::string s = item.id + ":";
  for (const auto& t : r->tests) {
    if (t.status != TestStatus::pass) s += std::string(" [") + test_status_name(t.status) + "] " + t.detail;
  }
  return s;
}

void expect_canonical_pass(const char* path, CodeRowFormat format) {
  auto items = load(path, format);
  if (items.empty()) GTEST_SKIP() << path << " not available";
  std::vector<CodeProblem> problems;
  for (const auto& it : items) problems.push_back(it.problem);
  auto results = check_code_batch(problems, test_options(kDatasetTimeout), 0);
  auto broken = known_broken();
  for (size_t i = 0; i < items.size(); ++i) {
    bool pass = results[i].ok() && results[i]->score == 1.0 && !results[i]->tests.empty();
    if (broken.count(items[i].id)) continue;
    EXPECT_TRUE(pass) << summary(items[i], results[i]);
  }
}

void expect_mutated_fail(const char* path, CodeRowFormat format) {
  auto items = load(path, format);
  if (items.empty()) GTEST_SKIP() << path << " not available";
  std::vector<CodeProblem> problems;
  for (auto& it : items) {
    it.problem.program += called_text(it.problem) + kMutator;
    problems.push_back(it.problem);
  }
  auto results = check_code_batch(problems, test_options(kDatasetTimeout), 0);
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status().message();
    EXPECT_LT(results[i]->score, 1.0) << items[i].id;
  }
}

TEST(Datasets, HumanEvalCanonicalSolutionsPass) { expect_canonical_pass(kHumanEval.c_str(), CodeRowFormat::humaneval); }
TEST(Datasets, MbppCanonicalSolutionsPass) { expect_canonical_pass(kMbpp.c_str(), CodeRowFormat::mbpp); }
TEST(Datasets, HumanEvalMutatedSolutionsFail) { expect_mutated_fail(kHumanEval.c_str(), CodeRowFormat::humaneval); }
TEST(Datasets, MbppMutatedSolutionsFail) { expect_mutated_fail(kMbpp.c_str(), CodeRowFormat::mbpp); }

}  // namespace
}  // namespace r1
