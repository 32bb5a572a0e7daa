#include "grpo/rl_metrics.h"

#include <algorithm>
#include <cmath>

namespace r1 {

namespace {

double mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return x.empty() ? 0.0 : s / x.size();
}

// Bessel-corrected, as torch.std (TRL's reward_std and rewards/*/std).
double std_dev(const std::vector<double>& x) {
  if (x.size() < 2) return 0.0;
  double m = mean(x), s = 0;
  for (double v : x) s += (v - m) * (v - m);
  return std::sqrt(s / (x.size() - 1));
}

// completions/{mean,min,max}<kind>_length, 0 when there are none.
void add_length_metrics(std::map<std::string, double>& m, const std::string& kind, const std::vector<double>& lengths) {
  m["completions/mean" + kind + "_length"] = mean(lengths);
  m["completions/min" + kind + "_length"] = lengths.empty() ? 0.0 : *std::min_element(lengths.begin(), lengths.end());
  m["completions/max" + kind + "_length"] = lengths.empty() ? 0.0 : *std::max_element(lengths.begin(), lengths.end());
}

}  // namespace

std::map<std::string, double> generation_metrics(const RLGeneration& gen, const std::vector<std::string>& components,
                                                 int64_t G) {
  std::map<std::string, double> m;
  std::vector<double> totals, lengths, terminated;
  for (const Sample& s : gen.samples) {
    totals.push_back(s.reward.total);
    lengths.push_back(static_cast<double>(s.token_ids.size()));
    if (s.finish_reason != "length") terminated.push_back(static_cast<double>(s.token_ids.size()));
  }
  m["reward"] = mean(totals);
  // TRL: the mean over groups of each group's std, and the share of groups whose std is 0.
  std::vector<double> group_stds;
  double zero_std_groups = 0;
  for (size_t begin = 0; begin < totals.size(); begin += G) {
    std::vector<double> group(totals.begin() + begin, totals.begin() + std::min(totals.size(), begin + G));
    double sd = std_dev(group);
    group_stds.push_back(sd);
    if (sd < 1e-12) ++zero_std_groups;
  }
  m["reward_std"] = mean(group_stds);
  m["frac_reward_zero_std"] = group_stds.empty() ? 0.0 : zero_std_groups / group_stds.size();
  for (size_t c = 0; c < components.size(); ++c) {
    std::vector<double> scores;
    for (const Sample& s : gen.samples) scores.push_back(s.reward.components[c].score);
    m["rewards/" + components[c] + "/mean"] = mean(scores);
    m["rewards/" + components[c] + "/std"] = std_dev(scores);
  }
  add_length_metrics(m, "", lengths);
  add_length_metrics(m, "_terminated", terminated);
  m["completions/clipped_ratio"] =
      lengths.empty() ? 0.0 : 1.0 - static_cast<double>(terminated.size()) / lengths.size();
  m["time/generate"] = gen.stats.generate_seconds;
  m["time/reward"] = gen.stats.reward_seconds;
  m["completions/tokens_per_second"] = gen.stats.completion_tokens / std::max(gen.stats.generate_seconds, 1e-9);
  m["dynamic_sampling/rounds"] = static_cast<double>(gen.stats.rounds);
  m["dynamic_sampling/trained_groups"] = static_cast<double>(gen.trained.size() / G);
  return m;
}

void add_update_metrics(std::map<std::string, double>& m, const LearnerStepStats& stats, double learning_rate,
                        double update_seconds) {
  m["loss"] = stats.loss;
  m["grad_norm"] = stats.grad_norm;
  m["learning_rate"] = learning_rate;
  m["time/update"] = update_seconds;
  m["time/ref_logprobs"] = stats.ref_logprobs_seconds;
  for (const auto& [name, value] : stats.metrics) m[name] = value;
}

}  // namespace r1
