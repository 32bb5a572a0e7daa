#include "reward/code_cli.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "reward/code_formats.h"
#include "reward/code_pool.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {
namespace {

struct CodeCheckCliOptions {
  std::string input;
  std::string output = "-";
  std::string format = "generic";
  int workers = 0;
  double timeout_s = 5;
  int64_t memory_mb = 1024;
};

struct Row {
  int64_t line;
  std::string id;
  CodeProblem problem;
};

std::vector<Row> read_rows(const std::string& path, CodeRowFormat format) {
  JsonlReader reader = value_or_throw(JsonlReader::open(path));
  std::vector<Row> rows;
  rapidjson::Document doc;
  while (value_or_throw(reader.next(doc))) {
    CodeProblem p = value_or_throw(code_problem_from_row(doc, format, reader.where()));
    int64_t line = std::stoll(reader.where().substr(reader.where().rfind(':') + 1));
    rows.push_back({line, code_row_id(doc), std::move(p)});
  }
  return rows;
}

std::string result_line(const Row& row, const CheckResult& r) {
  JsonWriter w;
  w.begin_object().key("line").value(row.line).key("id").value(row.id);
  w.key("score").value(r.score).key("passed").value(r.passed).key("total").value(static_cast<int64_t>(r.tests.size()));
  w.key("output_truncated").value(r.output_truncated).key("wall_s").value(r.wall_s);
  w.key("tests").begin_array();
  for (const auto& t : r.tests) {
    w.begin_object().key("name").value(t.name).key("status").value(test_status_name(t.status));
    w.key("detail").value(t.detail).end_object();
  }
  w.end_array().end_object();
  return w.str();
}

void run_code_check(const CodeCheckCliOptions& o) {
  CodeRowFormat format = value_or_throw(parse_code_row_format(o.format));
  std::vector<Row> rows = read_rows(o.input, format);
  CodeCheckOptions options;
  options.sandbox.timeout_s = o.timeout_s;
  options.sandbox.memory_mb = o.memory_mb;
  std::vector<CodeProblem> problems;
  for (const auto& r : rows) problems.push_back(r.problem);
  auto start = std::chrono::steady_clock::now();
  auto results = check_code_batch(problems, options, o.workers);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  JsonlWriter out = value_or_throw(JsonlWriter::open(o.output));
  double total = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!results[i].ok()) throw Error(results[i].status().with_context(o.input + ":" + std::to_string(rows[i].line)));
    throw_if_error(out.write(result_line(rows[i], *results[i])));
    total += results[i]->score;
  }
  throw_if_error(out.commit());
  std::fprintf(stderr, "r1 code-check: %zu rows, mean score %.4f, %.1f s, %.1f rows/s, %d workers\n", rows.size(),
               rows.empty() ? 0.0 : total / static_cast<double>(rows.size()), secs,
               secs > 0 ? static_cast<double>(rows.size()) / secs : 0.0, default_code_workers(o.workers));
}

}  // namespace

void add_code_commands(CLI::App& app) {
  auto o = std::make_shared<CodeCheckCliOptions>();
  CLI::App* cmd = app.add_subcommand("code-check", "Run untrusted Python programs against tests in a sandbox");
  cmd->add_option("--input", o->input, "JSONL rows (see docs/code_sandbox.md)")->required();
  cmd->add_option("--output", o->output, "JSONL results, one line per row ('-' = stdout)")->capture_default_str();
  cmd->add_option("--format", o->format, "generic | humaneval | mbpp")
      ->check(CLI::IsMember({"generic", "humaneval", "mbpp"}))
      ->capture_default_str();
  cmd->add_option("--workers", o->workers, "Sandboxes run at once (0 = number of cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--timeout-s", o->timeout_s, "Wall-clock limit per test, seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--memory-mb", o->memory_mb, "Address-space limit per program, MiB")
      ->check(CLI::Range(int64_t{64}, int64_t{1} << 20))
      ->capture_default_str();
  cmd->callback([o] { run_code_check(*o); });
}

}  // namespace r1
