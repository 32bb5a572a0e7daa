#include "reward/math_cli.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "reward/math_checker.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {
namespace {

struct MathCheckArgs {
  std::string input;
  std::string output = "-";
  int threads = 1;
  MathOptions options;
  bool no_fallback = false;
  bool no_decimal_comma = false;
};

// One input row: gold plus either an extracted prediction or a completion.
struct Pair {
  std::string gold;
  std::string text;
  bool is_completion = false;
};

Result<std::vector<Pair>> read_pairs(const std::string& path) {
  R1_ASSIGN_OR_RETURN(JsonlReader reader, JsonlReader::open(path));
  std::vector<Pair> pairs;
  rapidjson::Document doc;
  while (true) {
    R1_ASSIGN_OR_RETURN(bool more, reader.next(doc));
    if (!more) break;
    Pair p;
    R1_ASSIGN_OR_RETURN(p.gold, json_string(doc, "gold", reader.where()));
    bool has_pred = json_has(doc, "prediction"), has_completion = json_has(doc, "completion");
    if (has_pred == has_completion)
      return Status::error(reader.where() + ": expected exactly one of the fields 'prediction' and 'completion'");
    p.is_completion = has_completion;
    R1_ASSIGN_OR_RETURN(p.text, json_string(doc, has_completion ? "completion" : "prediction", reader.where()));
    pairs.push_back(std::move(p));
  }
  return pairs;
}

// Checks all pairs on `threads` threads; verdicts keep input order.
std::vector<MathVerdict> check_all(const std::vector<Pair>& pairs, const MathOptions& options, int threads) {
  std::vector<MathVerdict> out(pairs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < pairs.size();) {
      const Pair& p = pairs[i];
      out[i] = p.is_completion ? check_math_answer(p.text, p.gold, options)
                               : compare_math_answers(p.gold, p.text, options);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return out;
}

void run_math_check(MathCheckArgs& args) {
  if (args.threads < 1) throw Error("--threads must be at least 1");
  args.options.extract.last_number_fallback = !args.no_fallback;
  args.options.extract.decimal_comma = !args.no_decimal_comma;
  auto pairs = value_or_throw(read_pairs(args.input));
  auto start = std::chrono::steady_clock::now();
  std::vector<MathVerdict> verdicts = check_all(pairs, args.options, args.threads);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto writer = value_or_throw(JsonlWriter::open(args.output));
  for (const MathVerdict& v : verdicts) {
    JsonWriter w;
    w.begin_object().key("correct").value(v.correct).key("extracted").value(v.extracted).key("reason").value(v.reason);
    w.key("timed_out").value(v.timed_out).end_object();
    throw_if_error(writer.write(w.str()));
  }
  throw_if_error(writer.commit());
  // Throughput excludes process start and file I/O: what bench/bench_math.py reads.
  std::fprintf(stderr, "math-check: %zu pairs in %.3f s (%.1f answers/s, %d threads)\n", pairs.size(), seconds,
               seconds > 0 ? pairs.size() / seconds : 0.0, args.threads);
}

}  // namespace

void add_math_commands(CLI::App& app) {
  auto args = std::make_shared<MathCheckArgs>();
  CLI::App* cmd = app.add_subcommand(
      "math-check", "Judge maths answers: JSONL rows {gold, prediction} or {gold, completion} -> JSONL verdicts");
  cmd->add_option("--input", args->input, "JSONL file of pairs")->required();
  cmd->add_option("--output", args->output, "Verdicts JSONL ('-' for stdout)");
  cmd->add_option("--threads", args->threads, "Checker threads");
  cmd->add_flag("--no-last-number-fallback", args->no_fallback, "Do not fall back to the last number of a completion");
  cmd->add_option("--timeout-ms", args->options.timeout_ms, "Budget per check in milliseconds");
  cmd->add_option("--rel-tolerance", args->options.rel_tolerance, "Relative tolerance when a decimal is involved");
  cmd->add_flag("--no-decimal-comma", args->no_decimal_comma,
                "Read a comma in a plain-text number only as a thousands separator, never as a decimal comma");
  cmd->add_flag("--allow-set-relation-comp", args->options.allow_set_relation_comp,
                "Let a predicted inequality match a gold interval too (a gold inequality always accepts its interval)");
  cmd->callback([args] { run_math_check(*args); });
}

}  // namespace r1
