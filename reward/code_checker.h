// Checks an untrusted Python program against tests, each run in the sandbox
// (reward/sandbox.h). Two forms of tests, which may be combined:
//  - stdin/stdout cases: one sandbox run per case, stdout compared with the
//    expected output after trailing whitespace is normalised;
//  - assert tests (MBPP asserts, HumanEval check()): one sandbox run with an
//    in-sandbox harness that runs every test separately (own timer) and
//    reports results on a private fd, so one failure hides no other.
// Score = passed / total.
#pragma once

#include <string>
#include <vector>

#include "reward/sandbox.h"
#include "util/status.h"

namespace r1 {

enum class TestStatus { pass, wrong_answer, runtime_error, timeout, memory_limit, sandbox_error };
const char* test_status_name(TestStatus status);

struct IoCase {
  std::string input;
  std::string output;
};

struct CodeTests {
  std::vector<IoCase> io;
  std::string setup;                 // run after the program (MBPP test_setup_code, HumanEval test code)
  std::vector<std::string> asserts;  // each run separately after setup
  // HumanEval: `setup` defines check(candidate); every assert statement of its
  // body becomes one test, with candidate = the program's `entry_point`.
  std::string entry_point;
};

struct CodeProblem {
  std::string program;
  CodeTests tests;
};

struct CodeCheckOptions {
  SandboxOptions sandbox;  // sandbox.timeout_s is the limit per test
  std::string python = "/usr/bin/python3";
  size_t detail_bytes = 300;  // stderr/traceback tail kept per test
};

struct TestResult {
  std::string name;
  TestStatus status = TestStatus::sandbox_error;
  std::string detail;  // traceback tail, output diff or sandbox error
};

struct CheckResult {
  double score = 0;
  int passed = 0;
  std::vector<TestResult> tests;
  bool output_truncated = false;  // some run's stdout/stderr hit the cap
  double wall_s = 0;
};

// An error only when the problem has no tests or the host fails; anything the
// program does is a per-test status.
Result<CheckResult> check_code(const CodeProblem& problem, const CodeCheckOptions& options);

// Lines with trailing whitespace removed and trailing empty lines dropped.
std::string normalize_output(const std::string& text);

}  // namespace r1
