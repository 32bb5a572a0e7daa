// Writes a small, deterministic rollout store through RolloutStore, for the
// `r1 rollouts` tests: r1_rollout_fixture OUT.db [STEPS]
// Prompt 5 is never answered correctly; the run is "resumed" once after step
// STEPS/2 so the store holds a resume event and regenerated steps.
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include "rollout/rollout_store.h"

namespace r1 {
namespace {

constexpr int kGroups = 2;
constexpr int kG = 4;
constexpr int kPrompts = 6;

std::vector<StoredRollout> make_step(int64_t step, std::mt19937_64& rng, const std::string& tag) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<StoredRollout> out;
  for (int gi = 0; gi < kGroups; ++gi) {
    int64_t p = (step * kGroups + gi) % kPrompts;
    std::vector<double> totals;
    for (int si = 0; si < kG; ++si) {
      StoredRollout r;
      r.step = step;
      r.policy_version = step;
      r.prompt_index = p;
      r.group_index = gi;
      r.sample_index = si;
      r.prompt = "Problem #" + std::to_string(p) + ": Natalia sold " + std::to_string(10 + p) +
                 " clips. How many clips?";
      double acc = p != 5 && u(rng) < 0.3 + 0.08 * static_cast<double>(step) ? 1.0 : 0.0;
      double fmt = u(rng) < 0.5 ? 1.0 : 0.5;
      r.completion = tag + "<think>\nLet me compute " + std::to_string(10 + p) + "·2 — ünïcode\n</think>\n\\boxed{" +
                     std::to_string(acc > 0 ? 2 * (10 + p) : 7) + "} s" + std::to_string(step) + "g" +
                     std::to_string(gi) + "k" + std::to_string(si);
      r.prompt_tokens = 30 + p;
      r.completion_tokens = 40 + static_cast<int64_t>(u(rng) * 200);
      r.finish_reason = r.completion_tokens > 220 ? "length" : "stop";
      r.reward_components = {{"accuracy", acc}, {"format", fmt}};
      r.total_reward = acc + fmt;
      r.old_logprob = {-0.3 * r.completion_tokens, -0.3, -4.0 - u(rng)};
      r.generation_ms = 50.0 + u(rng) * 10;
      if (p % 2 == 0) r.reference_answer = std::to_string(2 * (10 + p));
      totals.push_back(r.total_reward);
      out.push_back(std::move(r));
    }
    double mean = 0, var = 0;
    for (double t : totals) mean += t / kG;
    for (double t : totals) var += (t - mean) * (t - mean) / (kG - 1);
    for (int si = 0; si < kG; ++si)
      out[out.size() - kG + si].advantage = (totals[si] - mean) / (std::sqrt(var) + 1e-4);
  }
  return out;
}

StepMetrics make_metrics(int64_t step, const std::vector<StoredRollout>& recs) {
  double mean = 0;
  for (const auto& r : recs) mean += r.total_reward / static_cast<double>(recs.size());
  double kl = step == 2 ? std::nan("") : 0.001 * static_cast<double>(step);
  return {step, {{"reward", mean}, {"kl", kl}, {"learning_rate", 1e-6}}, 1.7e9 + 10.0 * static_cast<double>(step)};
}

Status write_steps(RolloutStore& store, int64_t from, int64_t to, uint64_t seed, const std::string& tag) {
  std::mt19937_64 rng(seed);
  for (int64_t step = from; step < to; ++step) {
    auto recs = make_step(step, rng, tag);
    StepMetrics m = make_metrics(step, recs);
    R1_RETURN_IF_ERROR(store.append(std::move(recs)));
    R1_RETURN_IF_ERROR(store.append_metrics(m));
  }
  return store.flush();
}

Status write_fixture(const std::string& path, int64_t steps) {
  R1_ASSIGN_OR_RETURN(auto store, RolloutStore::open(path));
  RunInfo info{"fixture-run", "fixture", R"({"num_generations":4})", "2026-11-25T00:00:00Z", "/models/tiny",
               "fixture-math"};
  R1_RETURN_IF_ERROR(store->write_run_info(info));
  int64_t checkpoint = steps / 2;
  R1_RETURN_IF_ERROR(write_steps(*store, 0, checkpoint + 3, 1, ""));
  R1_RETURN_IF_ERROR(store->discard_after_step(checkpoint).status());
  R1_RETURN_IF_ERROR(write_steps(*store, checkpoint + 1, steps, 2, "r"));
  return store->close();
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: r1_rollout_fixture OUT.db [STEPS]\n";
    return 2;
  }
  int64_t steps = argc == 3 ? std::atoll(argv[2]) : 8;
  if (steps < 4) {
    std::cerr << "r1_rollout_fixture: STEPS must be >= 4\n";
    return 2;
  }
  r1::Status status = r1::write_fixture(argv[1], steps);
  if (!status.ok()) {
    std::cerr << "r1_rollout_fixture: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
