#include "rollout/rollouts_cli.h"

#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rollout/rollout_reader.h"
#include "rollout/rollouts_export.h"
#include "rollout/rollouts_summary.h"
#include "util/status.h"
#include "util/text_table.h"

namespace r1 {

namespace {

constexpr size_t kPreviewChars = 60;

struct RolloutsCliOptions {
  std::string db;
  std::vector<std::string> metrics;  // steps
  bool components = false;           // steps
  int64_t every = 1;                 // steps
  int64_t last = 0;                  // steps; 0 = all
  int64_t step = -1;                 // show, export
  int64_t best = 0;                  // show
  int64_t worst = 0;                 // show
  bool full = false;                 // show, follow
  int64_t prompt_index = -1;         // follow
  std::string prompt_contains;       // follow
  std::string out;                   // export
};

RolloutReader open_reader(const RolloutsCliOptions& o) { return value_or_throw(RolloutReader::open(o.db)); }

std::string lookup(const NamedValues& values, const std::string& name, int decimals) {
  for (const auto& [n, v] : values)
    if (n == name) return fixed(v, decimals);
  return "-";
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

void check_metric_names(const std::vector<StepSummary>& steps, const std::vector<std::string>& wanted,
                        const std::string& db) {
  std::set<std::string> logged;
  for (const auto& st : steps)
    for (const auto& m : st.metrics) logged.insert(m.first);
  for (const auto& name : wanted)
    if (!logged.count(name))
      throw Error(db + ": metric '" + name + "' was never logged; logged metrics: " + join(logged));
}

std::set<std::string> component_names(const std::vector<StepSummary>& steps) {
  std::set<std::string> names;
  for (const auto& st : steps)
    for (const auto& c : st.component_means) names.insert(c.first);
  return names;
}

// Every `every`-th step (the last one always), then only the last `last`.
std::vector<StepSummary> thin_steps(std::vector<StepSummary> steps, int64_t every, int64_t last) {
  std::vector<StepSummary> kept;
  for (size_t i = 0; i < steps.size(); ++i)
    if (static_cast<int64_t>(i) % every == 0 || i + 1 == steps.size()) kept.push_back(std::move(steps[i]));
  if (last > 0 && static_cast<size_t>(last) < kept.size()) kept.erase(kept.begin(), kept.end() - last);
  return kept;
}

void run_steps(const RolloutsCliOptions& o) {
  RolloutReader reader = open_reader(o);
  std::vector<StepSummary> steps = thin_steps(value_or_throw(reader.steps()), o.every, o.last);
  check_metric_names(steps, o.metrics, o.db);
  std::set<std::string> comps = o.components ? component_names(steps) : std::set<std::string>();
  std::vector<std::string> header = {"step", "n", "reward_mean", "reward_std", "mean_len", "truncated"};
  for (const auto& c : comps) header.push_back(c);
  for (const auto& m : o.metrics) header.push_back(m);
  TextTable table(header);
  for (const StepSummary& st : steps) {
    bool has = st.n > 0;
    std::vector<std::string> row = {std::to_string(st.step), std::to_string(st.n),
                                    has ? fixed(st.reward_mean, 4) : "-", has ? fixed(st.reward_std, 4) : "-",
                                    has ? fixed(st.mean_completion_tokens, 1) : "-",
                                    has ? fixed(100.0 * st.truncated_fraction, 1) + "%" : "-"};
    for (const auto& c : comps) row.push_back(lookup(st.component_means, c, 4));
    for (const auto& m : o.metrics) row.push_back(lookup(st.metrics, m, 4));
    table.add_row(std::move(row));
  }
  if (steps.empty()) std::cout << o.db << ": no steps yet\n";
  else table.print(std::cout);
}

std::string components_text(const StoredRollout& r) {
  std::string out;
  for (const auto& [name, value] : r.reward_components) out += (out.empty() ? "" : ", ") + name + " " + fixed(value, 3);
  return out;
}

void print_full(const StoredRollout& r) {
  std::cout << "=== step " << r.step << " group " << r.group_index << " sample " << r.sample_index << " | prompt "
            << r.prompt_index << " | reward " << fixed(r.total_reward, 4) << " (" << components_text(r)
            << ") | advantage " << fixed(r.advantage, 4) << " | " << r.completion_tokens << " tokens, "
            << r.finish_reason << " | policy v" << r.policy_version << "\n";
  std::cout << "--- prompt\n" << r.prompt << "\n--- completion\n" << r.completion << "\n";
  if (r.reference_answer) std::cout << "--- reference answer\n" << *r.reference_answer << "\n";
  std::cout << "\n";
}

void print_rollout_table(const std::vector<StoredRollout>& rollouts) {
  std::set<std::string> comps;
  for (const auto& r : rollouts)
    for (const auto& c : r.reward_components) comps.insert(c.first);
  std::vector<std::string> header = {"group", "sample", "prompt", "reward", "advantage"};
  header.insert(header.end(), comps.begin(), comps.end());
  for (const char* h : {"tokens", "finish", "completion"}) header.push_back(h);
  TextTable table(header);
  for (const auto& r : rollouts) {
    std::vector<std::string> row = {std::to_string(r.group_index), std::to_string(r.sample_index),
                                    std::to_string(r.prompt_index), fixed(r.total_reward, 4), fixed(r.advantage, 4)};
    for (const auto& c : comps) row.push_back(lookup(r.reward_components, c, 3));
    row.push_back(std::to_string(r.completion_tokens));
    row.push_back(r.finish_reason);
    row.push_back(one_line(r.completion, kPreviewChars));
    table.add_row(std::move(row));
  }
  table.print(std::cout);
}

std::string step_range(const std::vector<StepSummary>& steps) {
  std::vector<int64_t> with;
  for (const auto& st : steps)
    if (st.n > 0) with.push_back(st.step);
  if (with.empty()) return "no step has rollouts yet";
  return "steps with rollouts: " + std::to_string(with.front()) + ".." + std::to_string(with.back());
}

void run_show(const RolloutsCliOptions& o) {
  RolloutReader reader = open_reader(o);
  RolloutOrder order = o.best > 0 ? RolloutOrder::kBest : o.worst > 0 ? RolloutOrder::kWorst : RolloutOrder::kNatural;
  int64_t limit = o.best > 0 ? o.best : o.worst > 0 ? o.worst : -1;
  std::vector<StoredRollout> rollouts = value_or_throw(reader.step_rollouts(o.step, order, limit));
  if (rollouts.empty())
    throw Error(o.db + ": step " + std::to_string(o.step) + " has no rollouts (" +
                step_range(value_or_throw(reader.steps())) + ")");
  std::string what = order == RolloutOrder::kBest    ? "best " + std::to_string(rollouts.size())
                     : order == RolloutOrder::kWorst ? "worst " + std::to_string(rollouts.size())
                                                     : "all " + std::to_string(rollouts.size());
  std::cout << "step " << o.step << ": " << what << " rollouts by total reward\n";
  if (o.full) {
    for (const auto& r : rollouts) print_full(r);
  } else {
    print_rollout_table(rollouts);
  }
}

int64_t resolve_prompt(RolloutReader& reader, const RolloutsCliOptions& o) {
  if (o.prompt_index >= 0) {
    if (!value_or_throw(reader.prompt_text(o.prompt_index)))
      throw Error(o.db + ": prompt_index " + std::to_string(o.prompt_index) + " has no rollouts");
    return o.prompt_index;
  }
  auto found = value_or_throw(reader.find_prompts(o.prompt_contains));
  if (found.empty()) throw Error(o.db + ": no prompt contains '" + o.prompt_contains + "'");
  if (found.size() == 1) return found[0].first;
  std::string list;
  for (size_t i = 0; i < found.size() && i < 10; ++i)
    list += "\n  " + std::to_string(found[i].first) + ": " + one_line(found[i].second, kPreviewChars);
  if (found.size() > 10) list += "\n  ... and " + std::to_string(found.size() - 10) + " more";
  throw Error(o.db + ": " + std::to_string(found.size()) + " prompts contain '" + o.prompt_contains +
              "'; pick one with --prompt-index:" + list);
}

void run_follow(const RolloutsCliOptions& o) {
  RolloutReader reader = open_reader(o);
  int64_t index = resolve_prompt(reader, o);
  std::string prompt = *value_or_throw(reader.prompt_text(index));
  std::vector<PromptStep> steps = value_or_throw(reader.follow_prompt(index));
  std::cout << "prompt " << index << ": " << (o.full ? prompt : one_line(prompt, 100)) << "\n";
  if (o.full) {
    for (const auto& s : steps)
      std::cout << "=== step " << s.step << " | n " << s.n << " | reward mean " << fixed(s.reward_mean, 4) << " max "
                << fixed(s.reward_max, 4) << " | best completion:\n"
                << s.best_completion << "\n\n";
    return;
  }
  TextTable table({"step", "n", "reward_mean", "reward_min", "reward_max", "mean_len", "best completion"});
  for (const auto& s : steps)
    table.add_row({std::to_string(s.step), std::to_string(s.n), fixed(s.reward_mean, 4), fixed(s.reward_min, 4),
                   fixed(s.reward_max, 4), fixed(s.mean_completion_tokens, 1),
                   one_line(s.best_completion, kPreviewChars)});
  table.print(std::cout);
}

void run_export(const RolloutsCliOptions& o) {
  RolloutReader reader = open_reader(o);
  RolloutFilter filter;
  if (o.step >= 0) filter.step = o.step;
  int64_t n = value_or_throw(export_rollouts_jsonl(reader, filter, o.out));
  std::cerr << "wrote " << n << " rollouts to " << o.out << "\n";
}

void run_summary(const RolloutsCliOptions& o) {
  RolloutReader reader = open_reader(o);
  throw_if_error(print_rollouts_summary(reader, std::cout));
}

}  // namespace

void add_rollouts_commands(CLI::App& app) {
  auto o = std::make_shared<RolloutsCliOptions>();
  CLI::App* cmd =
      app.add_subcommand("rollouts", "Inspect a run's rollout store (read-only; works while the run writes)");
  cmd->add_option("--db", o->db, "The run's rollouts.db")->required();
  cmd->require_subcommand(1);
  cmd->fallthrough();  // --db may also follow the subcommand

  CLI::App* steps = cmd->add_subcommand("steps", "One row per step: rollouts, reward mean/std, mean length, metrics");
  steps->add_option("--metrics", o->metrics, "Logged metrics to add as columns, e.g. kl,reward_std")->delimiter(',');
  steps->add_flag("--components", o->components, "Add the mean of every reward component");
  steps->add_option("--every", o->every, "Only every K-th step (and the last)")->check(CLI::PositiveNumber);
  steps->add_option("--last", o->last, "Only the last N rows")->check(CLI::PositiveNumber);
  steps->callback([o] { run_steps(*o); });

  CLI::App* show = cmd->add_subcommand("show", "The rollouts of one step, optionally only the best/worst K");
  show->add_option("--step", o->step, "Step to show")->required()->check(CLI::NonNegativeNumber);
  auto* best = show->add_option("--best", o->best, "Only the K highest total rewards")->check(CLI::PositiveNumber);
  show->add_option("--worst", o->worst, "Only the K lowest total rewards")->check(CLI::PositiveNumber)->excludes(best);
  show->add_flag("--full", o->full, "Print full prompts, completions and reference answers");
  show->callback([o] { run_show(*o); });

  CLI::App* follow = cmd->add_subcommand("follow", "One prompt across training: per-step rewards and best completion");
  auto* idx = follow->add_option("--prompt-index", o->prompt_index, "Dataset index of the prompt")
                  ->check(CLI::NonNegativeNumber);
  follow->add_option("--prompt-contains", o->prompt_contains, "A substring of the prompt (case-sensitive)")
      ->excludes(idx);
  follow->add_flag("--full", o->full, "Print the full prompt and each step's best completion");
  follow->callback([o, follow] {
    if (follow->count("--prompt-index") + follow->count("--prompt-contains") == 0)
      throw Error("rollouts follow: give --prompt-index I or --prompt-contains TEXT");
    run_follow(*o);
  });

  CLI::App* exp = cmd->add_subcommand("export", "Write rollouts as JSON Lines (atomically; '-' for stdout)");
  exp->add_option("--out", o->out, "Output .jsonl file")->required();
  exp->add_option("--step", o->step, "Only this step")->check(CLI::NonNegativeNumber);
  exp->callback([o] { run_export(*o); });

  CLI::App* summary = cmd->add_subcommand("summary", "Run info, totals and first-vs-last-step trends");
  summary->callback([o] { run_summary(*o); });
}

}  // namespace r1
