#include "reward/code_checker.h"

#include <signal.h>

#include <chrono>
#include <cstring>
#include <random>
#include <sstream>

#include "reward/code_harness.h"

namespace r1 {
namespace {

const char* kMainPath = "/sandbox/main.py";
const char* kHarnessPath = "/sandbox/harness.py";
const char* kSpecPath = "/sandbox/spec.marshal";

std::vector<std::string> python_argv(const CodeCheckOptions& o, const char* script) {
  // -I: ignore PYTHON* env and user site; -S: no site (.pth files); -B: no .pyc.
  return {o.python, "-I", "-S", "-B", script};
}

bool killed_for_cpu(int exit_code) { return exit_code == 128 + SIGXCPU || exit_code == 128 + SIGKILL; }

bool looks_like_memory_error(const std::string& err) { return err.find("MemoryError") != std::string::npos; }

// Status of a run that did not end normally, or pass when it did (exit 0).
TestResult classify_run(const SandboxResult& run, const CodeCheckOptions& o) {
  TestResult t;
  std::string err = tail_of(run.stderr_data, o.detail_bytes);
  if (run.timed_out) {
    t.status = TestStatus::timeout;
    t.detail = "killed after " + std::to_string(o.sandbox.timeout_s) + " s wall clock\n" + err;
  } else if (!run.started) {
    t.status = TestStatus::sandbox_error;
    t.detail = run.setup_error;
  } else if (run.exit_code == 0) {
    t.status = TestStatus::pass;
  } else if (looks_like_memory_error(run.stderr_data)) {
    t.status = TestStatus::memory_limit;
    t.detail = err;
  } else if (killed_for_cpu(run.exit_code)) {
    t.status = TestStatus::timeout;
    t.detail = "killed by the CPU time limit (exit " + std::to_string(run.exit_code) + ")\n" + err;
  } else {
    t.status = TestStatus::runtime_error;
    t.detail = "exit " + std::to_string(run.exit_code) + "\n" + err;
  }
  return t;
}

Result<TestResult> run_io_case(const CodeProblem& p, const IoCase& c, size_t index, const CodeCheckOptions& o,
                               bool& truncated) {
  SandboxRequest req;
  req.argv = python_argv(o, kMainPath);
  req.stdin_data = c.input;
  req.files = {{kMainPath, p.program}};
  R1_ASSIGN_OR_RETURN(SandboxResult run, run_sandboxed(req, o.sandbox));
  truncated = truncated || run.stdout_truncated || run.stderr_truncated;
  TestResult t = classify_run(run, o);
  t.name = "io[" + std::to_string(index) + "]";
  if (t.status != TestStatus::pass) return t;
  if (run.stdout_truncated) {
    t.status = TestStatus::wrong_answer;
    t.detail = "output exceeded " + std::to_string(o.sandbox.max_output_bytes) + " bytes";
  } else if (normalize_output(run.stdout_data) != normalize_output(c.output)) {
    t.status = TestStatus::wrong_answer;
    t.detail = "expected: " + tail_of(normalize_output(c.output), o.detail_bytes / 2) +
               "\ngot: " + tail_of(normalize_output(run.stdout_data), o.detail_bytes / 2);
  }
  return t;
}

std::string random_secret() {
  std::random_device rd;
  std::ostringstream s;
  for (int i = 0; i < 4; ++i) s << std::hex << rd();
  return s.str();
}

// Python's marshal format (the harness reads it with the builtin marshal
// module, which is much cheaper to import than json): str, list, float, int, dict.
class MarshalWriter {
 public:
  MarshalWriter& str(const std::string& v) {
    out_ += 'u';
    u32(static_cast<uint32_t>(v.size()));
    out_ += v;
    return *this;
  }
  MarshalWriter& list(const std::vector<std::string>& v) {
    out_ += '[';
    u32(static_cast<uint32_t>(v.size()));
    for (const auto& x : v) str(x);
    return *this;
  }
  MarshalWriter& number(double v) {
    out_ += 'g';
    char b[8];
    std::memcpy(b, &v, 8);  // little-endian hosts only (x86-64, arm64)
    out_.append(b, 8);
    return *this;
  }
  MarshalWriter& integer(int32_t v) {
    out_ += 'i';
    u32(static_cast<uint32_t>(v));
    return *this;
  }
  MarshalWriter& begin_dict() {
    out_ += '{';
    return *this;
  }
  MarshalWriter& end_dict() {
    out_ += '0';
    return *this;
  }
  const std::string& bytes() const { return out_; }

 private:
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
};

std::string harness_spec(const CodeProblem& p, const CodeCheckOptions& o) {
  MarshalWriter m;
  m.begin_dict();
  m.str("program").str(p.program).str("setup").str(p.tests.setup).str("tests").list(p.tests.asserts);
  m.str("entry_point").str(p.tests.entry_point).str("test_timeout_s").number(o.sandbox.timeout_s);
  m.str("detail_bytes").integer(static_cast<int32_t>(o.detail_bytes));
  return m.end_dict().bytes();
}

// Upper bound on the tests of a run, for its wall-clock budget.
size_t estimated_tests(const CodeTests& t) {
  if (t.entry_point.empty()) return t.asserts.size();
  size_t n = 0;
  for (size_t pos = t.setup.find("assert"); pos != std::string::npos; pos = t.setup.find("assert", pos + 6)) ++n;
  return std::max<size_t>(n, 1);
}

struct HarnessRecords {
  bool have_plan = false;
  std::vector<std::string> names;
  std::vector<TestResult> results;  // by index; sandbox_error = no record
  std::vector<bool> seen;
  bool load_error = false;
  TestResult load;
};

TestStatus parse_status(const std::string& s) {
  for (TestStatus t : {TestStatus::pass, TestStatus::wrong_answer, TestStatus::runtime_error, TestStatus::timeout,
                       TestStatus::memory_limit}) {
    if (s == test_status_name(t)) return t;
  }
  return TestStatus::sandbox_error;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

bool is_hex(const std::string& s) {
  return s.size() % 2 == 0 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Parses "<index>" into [0, n); -1 when malformed.
int64_t parse_index(const std::string& s, size_t n) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  int64_t i = std::stoll(s);
  return i < static_cast<int64_t>(n) ? i : -1;
}

// Reads the harness's records; lines without the secret (printed by the
// program onto fd 3, or garbage) are ignored, and so are repeats.
HarnessRecords parse_records(const std::string& channel, const std::string& secret) {
  HarnessRecords r;
  std::istringstream in(channel);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string x; fields >> x;) f.push_back(x);
    if (f.size() < 2 || f[0] != secret) continue;
    const std::string& kind = f[1];
    if (kind == "plan" && f.size() == 3 && !r.have_plan) {
      int64_t n = parse_index(f[2], 100000);
      if (n < 0) continue;
      r.have_plan = true;
      r.names.resize(n);
      r.results.resize(n);
      r.seen.assign(n, false);
    } else if (kind == "name" && f.size() == 4 && is_hex(f[3])) {
      int64_t i = parse_index(f[2], r.names.size());
      if (i >= 0 && r.names[i].empty()) r.names[i] = from_hex(f[3]);
    } else if (kind == "test" && f.size() >= 4) {
      int64_t i = parse_index(f[2], r.results.size());
      if (i < 0 || r.seen[i]) continue;
      r.seen[i] = true;
      r.results[i].status = parse_status(f[3]);
      r.results[i].detail = f.size() == 5 && is_hex(f[4]) ? from_hex(f[4]) : "";
    } else if (kind == "load_error" && f.size() >= 3 && !r.load_error) {
      r.load_error = true;
      r.load.status = parse_status(f[2]);
      r.load.detail = "program or setup failed: " + (f.size() == 4 && is_hex(f[3]) ? from_hex(f[3]) : "");
    }
  }
  return r;
}

// Status of a test the harness never reported: the run ended early.
TestResult missing_result(const SandboxResult& run, const CodeCheckOptions& o) {
  TestResult t = classify_run(run, o);
  if (t.status == TestStatus::pass) {
    t.status = TestStatus::runtime_error;
    t.detail = "the program ended the run before this test finished\n" + tail_of(run.stderr_data, o.detail_bytes);
  }
  return t;
}

Result<std::vector<TestResult>> run_assert_tests(const CodeProblem& p, const CodeCheckOptions& o, bool& truncated) {
  SandboxRequest req;
  req.argv = python_argv(o, kHarnessPath);
  req.files = {{kHarnessPath, code_harness_source()}, {kSpecPath, harness_spec(p, o)}};
  req.with_channel = true;
  req.secret = random_secret();
  SandboxOptions so = o.sandbox;
  // Each test has its own timer inside; the wall clock covers all of them.
  so.timeout_s = o.sandbox.timeout_s * static_cast<double>(estimated_tests(p.tests) + 2) + 2.0;
  R1_ASSIGN_OR_RETURN(SandboxResult run, run_sandboxed(req, so));
  truncated = truncated || run.stdout_truncated || run.stderr_truncated;
  HarnessRecords rec = parse_records(run.channel, req.secret);
  std::vector<TestResult> out;
  if (!rec.have_plan) {
    TestResult t = missing_result(run, o);
    if (t.status == TestStatus::runtime_error) t.status = TestStatus::sandbox_error;
    size_t n = p.tests.entry_point.empty() ? p.tests.asserts.size() : 1;
    for (size_t i = 0; i < n; ++i) {
      out.push_back(t);
      out.back().name = p.tests.entry_point.empty() ? p.tests.asserts[i] : "check(" + p.tests.entry_point + ")";
    }
    return out;
  }
  for (size_t i = 0; i < rec.names.size(); ++i) {
    TestResult t = rec.load_error ? rec.load : rec.seen[i] ? rec.results[i] : missing_result(run, o);
    t.name = rec.names[i];
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

const char* test_status_name(TestStatus status) {
  switch (status) {
    case TestStatus::pass: return "pass";
    case TestStatus::wrong_answer: return "wrong_answer";
    case TestStatus::runtime_error: return "runtime_error";
    case TestStatus::timeout: return "timeout";
    case TestStatus::memory_limit: return "memory_limit";
    case TestStatus::sandbox_error: return "sandbox_error";
  }
  return "sandbox_error";
}

std::string normalize_output(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t end = line.find_last_not_of(" \t\r\f\v");
    lines.push_back(end == std::string::npos ? "" : line.substr(0, end + 1));
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

Result<CheckResult> check_code(const CodeProblem& p, const CodeCheckOptions& o) {
  const CodeTests& t = p.tests;
  if (t.io.empty() && t.asserts.empty() && t.entry_point.empty())
    return Status::error("problem has no tests (need io cases, asserts or an entry_point)");
  CheckResult r;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < t.io.size(); ++i) {
    R1_ASSIGN_OR_RETURN(TestResult tr, run_io_case(p, t.io[i], i, o, r.output_truncated));
    r.tests.push_back(std::move(tr));
  }
  if (!t.asserts.empty() || !t.entry_point.empty()) {
    R1_ASSIGN_OR_RETURN(std::vector<TestResult> ts, run_assert_tests(p, o, r.output_truncated));
    for (auto& tr : ts) r.tests.push_back(std::move(tr));
  }
  for (const auto& tr : r.tests) r.passed += tr.status == TestStatus::pass;
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.score = r.tests.empty() ? 0.0 : static_cast<double>(r.passed) / static_cast<double>(r.tests.size());
  return r;
}

}  // namespace r1
