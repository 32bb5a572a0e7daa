#include "rollout/rollouts_summary.h"

#include <sys/stat.h>

#include <map>
#include <vector>

#include "rollout/rollout_schema.h"
#include "util/text_table.h"

namespace r1 {

namespace {

std::string arrow(double first, double last, int decimals) {
  return fixed(first, decimals) + " -> " + fixed(last, decimals);
}

// The database plus its WAL, which holds recent commits until a checkpoint.
std::string file_size(const std::string& path) {
  double bytes = 0;
  struct stat st;
  for (const std::string& p : {path, path + "-wal"})
    if (::stat(p.c_str(), &st) == 0) bytes += static_cast<double>(st.st_size);
  return fixed(bytes / (1024.0 * 1024.0), 2) + " MiB";
}

void add_run_rows(TextTable& t, const std::optional<RunInfo>& info) {
  if (!info) {
    t.add_row({"run", "(no run info written)"});
    return;
  }
  t.add_row({"run", info->name + " (" + info->run_id + ")"});
  t.add_row({"created", info->created_at});
  t.add_row({"model", info->model_path});
  t.add_row({"dataset", info->dataset});
}

// Trend rows compare the first and last step that have rollouts.
void add_trend_rows(TextTable& t, const std::vector<StepSummary>& with) {
  const StepSummary& a = with.front();
  const StepSummary& b = with.back();
  const StepSummary* best = &a;
  int64_t total = 0;
  for (const auto& st : with) {
    total += st.n;
    if (st.reward_mean > best->reward_mean) best = &st;
  }
  t.add_row({"rollouts", std::to_string(total)});
  t.add_row({"reward mean", arrow(a.reward_mean, b.reward_mean, 4) + "  (step " + std::to_string(a.step) + " -> " +
                                std::to_string(b.step) + "; best step " + std::to_string(best->step) + ": " +
                                fixed(best->reward_mean, 4) + ")"});
  std::map<std::string, double> first(a.component_means.begin(), a.component_means.end());
  for (const auto& [name, last] : b.component_means) {
    auto it = first.find(name);
    t.add_row({"  " + name, it == first.end() ? "- -> " + fixed(last, 4) : arrow(it->second, last, 4)});
  }
  t.add_row({"mean length", arrow(a.mean_completion_tokens, b.mean_completion_tokens, 1) + " tokens"});
  t.add_row({"truncated", arrow(100.0 * a.truncated_fraction, 100.0 * b.truncated_fraction, 1) + " %"});
}

}  // namespace

Status print_rollouts_summary(RolloutReader& reader, std::ostream& out) {
  R1_ASSIGN_OR_RETURN(std::optional<RunInfo> info, reader.run_info());
  R1_ASSIGN_OR_RETURN(std::vector<StepSummary> steps, reader.steps());
  R1_ASSIGN_OR_RETURN(std::vector<ResumeEvent> resumes, reader.resumes());
  TextTable t({"field", "value"});
  add_run_rows(t, info);
  t.add_row({"db", reader.path() + " (schema v" + std::to_string(reader.schema_version()) + ", " +
                       file_size(reader.path()) + ")"});
  std::vector<StepSummary> with;
  int64_t metric_steps = 0;
  for (const auto& st : steps) {
    if (st.n > 0) with.push_back(st);
    if (!st.metrics.empty()) ++metric_steps;
  }
  t.add_row({"steps", with.empty() ? "none with rollouts"
                                   : std::to_string(with.front().step) + ".." + std::to_string(with.back().step) +
                                         " (" + std::to_string(with.size()) + " with rollouts, " +
                                         std::to_string(metric_steps) + " with metrics)"});
  if (!with.empty()) add_trend_rows(t, with);
  for (const auto& r : resumes)
    t.add_row({"resume", "after step " + std::to_string(r.after_step) + " at " + r.at + " (discarded " +
                             std::to_string(r.discarded_rollouts) + " rollouts, " +
                             std::to_string(r.discarded_metric_steps) + " metric steps)"});
  t.print(out);
  return Status();
}

}  // namespace r1
