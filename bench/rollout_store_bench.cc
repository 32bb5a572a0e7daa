// Measures the rollout store: append throughput through the writer thread
// (one transaction per step), flush latency, and the reader queries behind
// `r1 rollouts` on the resulting file. Prints numbers; asserts nothing.
//   rollout_store_bench --db /tmp/bench.db [--steps 50 --groups 32 --g 8 --chars 2000]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "rollout/rollout_reader.h"
#include "rollout/rollout_store.h"

namespace {

struct BenchOptions {
  std::string db;
  int64_t steps = 50;
  int64_t groups = 32;
  int64_t g = 8;
  int64_t chars = 2000;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

std::vector<r1::StoredRollout> make_step(const BenchOptions& o, int64_t step) {
  std::vector<r1::StoredRollout> out;
  for (int64_t gi = 0; gi < o.groups; ++gi) {
    for (int64_t si = 0; si < o.g; ++si) {
      r1::StoredRollout r;
      r.step = step;
      r.policy_version = step;
      r.prompt_index = (step * o.groups + gi) % 7473;  // gsm8k train size
      r.group_index = gi;
      r.sample_index = si;
      r.prompt = "Question " + std::to_string(r.prompt_index) + ": " + std::string(300, 'q');
      r.completion = std::string(static_cast<size_t>(o.chars), 'a' + static_cast<char>(si % 26));
      r.completion_tokens = o.chars / 4;
      r.reward_components = {{"accuracy", si % 2 * 1.0}, {"format", 0.5}, {"tag_count", 0.25}};
      r.total_reward = si % 2 + 0.75;
      out.push_back(std::move(r));
    }
  }
  return out;
}

void run(const BenchOptions& o) {
  std::filesystem::remove(o.db);
  auto store = r1::value_or_throw(r1::RolloutStore::open(o.db));
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_seconds();
  double append_s = 0;
  for (int64_t step = 0; step < o.steps; ++step) {
    auto records = make_step(o, step);
    auto a = std::chrono::steady_clock::now();
    r1::throw_if_error(store->append(std::move(records)));
    append_s += seconds_since(a);
  }
  auto f = std::chrono::steady_clock::now();
  r1::throw_if_error(store->flush());
  double flush_s = seconds_since(f), wall = seconds_since(t0), cpu = cpu_seconds() - c0;
  r1::throw_if_error(store->close());
  double n = static_cast<double>(o.steps * o.groups * o.g);
  double mib = static_cast<double>(std::filesystem::file_size(o.db)) / (1 << 20);
  std::printf("write: %.0f rollouts (%lld-char completions, 3 components), %lld per step\n", n,
              static_cast<long long>(o.chars), static_cast<long long>(o.groups * o.g));
  std::printf("  %.2f s wall, %.2f s CPU (both threads): %.0f rollouts/s wall; append() %.2f ms/step on the "
              "caller; final flush %.1f ms; file %.1f MiB\n",
              wall, cpu, n / wall, 1e3 * append_s / static_cast<double>(o.steps), 1e3 * flush_s, mib);

  auto reader = r1::value_or_throw(r1::RolloutReader::open(o.db));
  auto q = std::chrono::steady_clock::now();
  auto steps = r1::value_or_throw(reader.steps());
  std::printf("read: steps() over %zu steps %.1f ms", steps.size(), 1e3 * seconds_since(q));
  q = std::chrono::steady_clock::now();
  auto best = r1::value_or_throw(reader.step_rollouts(o.steps / 2, r1::RolloutOrder::kBest, 5));
  std::printf("; best 5 of a step %.1f ms", 1e3 * seconds_since(q));
  q = std::chrono::steady_clock::now();
  auto follow = r1::value_or_throw(reader.follow_prompt(3));
  std::printf("; follow one prompt %.1f ms\n", 1e3 * seconds_since(q));
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions o;
  CLI::App app{"Rollout store write/read benchmark"};
  app.add_option("--db", o.db, "Scratch database path (overwritten)")->required();
  app.add_option("--steps", o.steps, "Steps to write")->check(CLI::PositiveNumber);
  app.add_option("--groups", o.groups, "Prompts per step")->check(CLI::PositiveNumber);
  app.add_option("--g", o.g, "Completions per prompt")->check(CLI::PositiveNumber);
  app.add_option("--chars", o.chars, "Characters per completion")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    run(o);
  } catch (const std::exception& e) {
    std::cerr << "rollout_store_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
