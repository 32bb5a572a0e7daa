// Measures `r1 inspect` on a large run: writes a store of N rollouts (one
// transaction per step, 3 reward components, a few discarded per step) and
// a metrics.jsonl, then times the requests the page makes for its first load
// (the page, /api/runs, the metrics, the steps) and for a step view, a
// prompt view, the discarded view and a search, through InspectApi::get (the
// handler the HTTP server calls; no socket). Prints numbers; asserts nothing.
//   inspect_bench --dir /tmp/inspect_bench [--rollouts 1000000 --groups 64 --g 16 --chars 500]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "inspect/inspect_api.h"
#include "rollout/rollout_store.h"

namespace {

struct BenchOptions {
  std::string dir;
  int64_t rollouts = 1000000;
  int64_t groups = 64;
  int64_t g = 16;
  int64_t chars = 500;
  bool reuse = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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
      r.completion = "<think>" + std::string(static_cast<size_t>(o.chars), 'a' + static_cast<char>(si % 26)) +
                     "</think><answer>" + std::to_string(si) + "</answer>";
      r.completion_tokens = o.chars / 4;
      r.finish_reason = si == 0 ? "length" : "stop";
      r.reward_components = {{"accuracy", si % 2 * 1.0}, {"format", 0.5}, {"tag_count", 0.25}};
      r.total_reward = si % 2 + 0.75;
      r.advantage = si % 2 - 0.5;
      if (gi == 0) r.discard_reason = r1::kDiscardZeroStd;
      out.push_back(std::move(r));
    }
  }
  return out;
}

void write_run(const BenchOptions& o) {
  std::filesystem::remove_all(o.dir);
  std::filesystem::create_directories(o.dir);
  auto store = r1::value_or_throw(r1::RolloutStore::open(o.dir + "/rollouts.db"));
  std::ofstream metrics(o.dir + "/metrics.jsonl");
  auto t0 = std::chrono::steady_clock::now();
  const int64_t steps = o.rollouts / (o.groups * o.g);
  for (int64_t step = 1; step <= steps; ++step) {
    r1::throw_if_error(store->append(make_step(o, step)));
    r1::throw_if_error(store->append_metrics({step, {{"reward", 0.5}, {"kl", 0.01}}, 1.7e9 + step}));
    metrics << "{\"step\": " << step;
    for (int m = 0; m < 30; ++m) metrics << ", \"metric_" << m << "\": " << 0.001 * (step + m);
    metrics << "}\n";
  }
  r1::throw_if_error(store->close());
  std::printf("wrote %lld rollouts in %lld steps: %.1f s, %.0f MiB\n", static_cast<long long>(steps * o.groups * o.g),
              static_cast<long long>(steps), seconds_since(t0),
              std::filesystem::file_size(o.dir + "/rollouts.db") / (1024.0 * 1024.0));
}

// Times one request; returns its seconds.
double timed(const r1::InspectApi& api, const std::string& target) {
  auto t0 = std::chrono::steady_clock::now();
  r1::HttpReply reply = api.get(target);
  double s = seconds_since(t0);
  std::printf("  %-48s %4u %9.1f KiB %8.1f ms\n", target.c_str(), reply.status, reply.body.size() / 1024.0, 1e3 * s);
  return s;
}

void run(const BenchOptions& o) {
  if (!o.reuse) write_run(o);
  r1::InspectApi api(r1::value_or_throw(r1::resolve_inspect_sources({o.dir})));
  const int64_t steps = o.rollouts / (o.groups * o.g), middle = steps / 2;
  for (int pass = 1; pass <= 2; ++pass) {
    std::printf("pass %d\n", pass);
    double first = 0;
    for (const char* target : {"/", "/api/runs", "/api/runs/0/metrics", "/api/runs/0/steps"})
      first += timed(api, target);
    std::printf("  first load (the four above):                      %8.1f ms\n", 1e3 * first);
    timed(api, "/api/runs/0/steps/" + std::to_string(middle));
    timed(api, "/api/runs/0/steps/" + std::to_string(middle) + "?sort=reward&finish=stop");
    timed(api, "/api/runs/0/prompts/" + std::to_string((middle * o.groups) % 7473));
    timed(api, "/api/runs/0/discarded");
    timed(api, "/api/runs/0/search?q=%3Canswer%3E7%3C");
    timed(api, "/api/runs/0/search?q=no+such+text");  // no match: every completion is read
  }
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions o;
  CLI::App app{"Times r1 inspect's first load and step view on a large store"};
  app.add_option("--dir", o.dir, "Scratch run folder (replaced)")->required();
  app.add_option("--rollouts", o.rollouts, "Rollouts to write");
  app.add_option("--groups", o.groups, "Groups per step");
  app.add_option("--g", o.g, "Samples per group");
  app.add_option("--chars", o.chars, "Characters per completion");
  app.add_flag("--reuse", o.reuse, "Time the store already in --dir");
  CLI11_PARSE(app, argc, argv);
  try {
    run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inspect_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
