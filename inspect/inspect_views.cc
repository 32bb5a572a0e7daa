#include "inspect/inspect_views.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "rollout/rollout_reader.h"
#include "rollout/rollouts_export.h"
#include "train/metrics_plot.h"
#include "util/json.h"

namespace r1 {

namespace {

constexpr int64_t kDefaultLimit = 200;
constexpr int64_t kMaxLimit = 10000;

Result<RolloutReader> open_db(const InspectSource& source) {
  R1_ASSIGN_OR_RETURN(std::string path, confined_file(source, source.db_path));
  return RolloutReader::open(path);
}

void named_object(JsonWriter& w, const NamedValues& values) {
  w.begin_object();
  for (const auto& [name, value] : values) w.key(name).value(value);
  w.end_object();
}

std::optional<double> component(const StoredRollout& r, const std::string& name) {
  for (const auto& [n, v] : r.reward_components)
    if (n == name) return v;
  return std::nullopt;
}

// Pass rate over rollouts: the share whose `name` component is >= 1 (as
// r1 eval counts a correct answer); none when no rollout has the component.
struct PassCount {
  int64_t scored = 0, passed = 0;
  void add(const StoredRollout& r, const std::string& name) {
    if (auto v = component(r, name)) ++scored, passed += *v >= 1.0;
  }
  void write(JsonWriter& w) const {
    if (scored == 0)
      w.null();
    else
      w.value(static_cast<double>(passed) / static_cast<double>(scored));
  }
};

void samples_array(JsonWriter& w, const std::vector<StoredRollout>& rollouts) {
  w.begin_array();
  for (const StoredRollout& r : rollouts) w.raw(rollout_to_json(r));
  w.end_array();
}

Result<int64_t> limit_param(const RequestTarget& t) {
  R1_ASSIGN_OR_RETURN(std::optional<int64_t> limit, int_param(t, "limit"));
  if (limit && (*limit < 1 || *limit > kMaxLimit))
    return Status::error("parameter 'limit' must be in 1.." + std::to_string(kMaxLimit));
  return limit.value_or(kDefaultLimit);
}

void run_info_json(JsonWriter& w, const std::optional<RunInfo>& info) {
  if (!info) {
    w.null();
    return;
  }
  w.begin_object().key("run_id").value(info->run_id).key("name").value(info->name);
  w.key("created_at").value(info->created_at).key("model_path").value(info->model_path);
  w.key("dataset").value(info->dataset).key("config_json").value(info->config_json).end_object();
}

}  // namespace

std::string runs_json(const std::vector<InspectSource>& sources) {
  JsonWriter w;
  w.begin_object().key("runs").begin_array();
  for (size_t i = 0; i < sources.size(); ++i) {
    const InspectSource& s = sources[i];
    w.begin_object().key("id").value(static_cast<int64_t>(i)).key("name").value(s.name).key("kind").value(s.kind);
    w.key("has_metrics").value(!s.metrics_path.empty());
    Result<RolloutReader> reader = open_db(s);
    Result<std::optional<RunInfo>> info =
        reader.ok() ? reader->run_info() : Result<std::optional<RunInfo>>(reader.status());
    w.key("error");
    if (info.ok())
      w.null();
    else
      w.value(info.status().message());
    w.key("schema_version");
    if (reader.ok())
      w.value(reader->schema_version());
    else
      w.null();
    w.key("run_info");
    run_info_json(w, info.ok() ? *info : std::nullopt);
    w.end_object();
  }
  w.end_array().end_object();
  return w.str();
}

Result<std::string> metrics_json(const InspectSource& source) {
  std::map<std::string, std::vector<std::pair<double, double>>> metrics;
  if (!source.metrics_path.empty()) {
    R1_RETURN_IF_ERROR(confined_file(source, source.metrics_path).status());
    R1_ASSIGN_OR_RETURN(RunCurves curves, read_run_curves(source.root));
    metrics = std::move(curves.metrics);
  } else {
    R1_ASSIGN_OR_RETURN(RolloutReader reader, open_db(source));
    R1_ASSIGN_OR_RETURN(std::vector<StepSummary> steps, reader.steps());
    for (const StepSummary& st : steps)
      for (const auto& [name, value] : st.metrics) metrics[name].emplace_back(static_cast<double>(st.step), value);
  }
  JsonWriter w;
  w.begin_object().key("source").value(source.metrics_path.empty() ? "database" : "metrics.jsonl");
  w.key("metrics").begin_object();
  for (const auto& [name, points] : metrics) {
    w.key(name).begin_array();
    for (const auto& [step, value] : points) w.begin_array().value(step).value(value).end_array();
    w.end_array();
  }
  w.end_object().end_object();
  return w.str();
}

Result<std::string> steps_json(const InspectSource& source) {
  R1_ASSIGN_OR_RETURN(RolloutReader reader, open_db(source));
  R1_ASSIGN_OR_RETURN(std::vector<StepSummary> steps, reader.steps());
  R1_ASSIGN_OR_RETURN(NamedValues discarded, reader.discard_counts());
  JsonWriter w;
  w.begin_object().key("steps").begin_array();
  for (const StepSummary& st : steps) {
    w.begin_object().key("step").value(st.step).key("n").value(st.n);
    w.key("reward_mean").value(st.reward_mean).key("reward_std").value(st.reward_std);
    w.key("mean_completion_tokens").value(st.mean_completion_tokens);
    w.key("truncated_fraction").value(st.truncated_fraction);
    w.key("components");
    named_object(w, st.component_means);
    w.key("metrics");
    named_object(w, st.metrics);
    w.end_object();
  }
  w.end_array().key("discarded");
  named_object(w, discarded);
  w.end_object();
  return w.str();
}

namespace {

double sort_key(const StoredRollout& r, const std::string& key) {
  if (key == "reward") return r.total_reward;
  if (key == "advantage") return r.advantage;
  if (key == "length") return static_cast<double>(r.completion_tokens);
  if (key == "logprob") return r.old_logprob.mean;
  return static_cast<double>(r.group_index * 1000000 + r.sample_index);  // "group": the stored order
}

bool keep(const StoredRollout& r, const RequestTarget& t) {
  std::optional<std::string> finish = text_param(t, "finish"), discarded = text_param(t, "discarded"),
                             q = text_param(t, "q");
  if (finish && r.finish_reason != *finish) return false;
  if (discarded) {
    bool want = *discarded == "yes"  ? !r.discard_reason.empty()
                : *discarded == "no" ? r.discard_reason.empty()
                                     : r.discard_reason == *discarded;
    if (!want) return false;
  }
  return !q || r.completion.find(*q) != std::string::npos;
}

// Groups in stored order (a step's rollouts come grouped), over all their
// samples whatever the filter: n, reward mean and sample std, pass rate.
void groups_array(JsonWriter& w, const std::vector<StoredRollout>& all, const std::string& pass_component) {
  w.begin_array();
  for (size_t begin = 0, end; begin < all.size(); begin = end) {
    for (end = begin; end < all.size() && all[end].group_index == all[begin].group_index;) ++end;
    double sum = 0, sq = 0;
    PassCount pass;
    for (size_t i = begin; i < end; ++i) sum += all[i].total_reward, pass.add(all[i], pass_component);
    double n = static_cast<double>(end - begin), mean = sum / n;
    for (size_t i = begin; i < end; ++i) sq += (all[i].total_reward - mean) * (all[i].total_reward - mean);
    const StoredRollout& first = all[begin];
    w.begin_object().key("group_index").value(first.group_index).key("prompt_index").value(first.prompt_index);
    w.key("prompt").value(first.prompt).key("reference_answer");
    if (first.reference_answer)
      w.value(*first.reference_answer);
    else
      w.null();
    w.key("n").value(static_cast<int64_t>(end - begin)).key("reward_mean").value(mean);
    w.key("reward_std").value(n > 1 ? std::sqrt(sq / (n - 1)) : 0.0).key("pass_rate");
    pass.write(w);
    w.end_object();
  }
  w.end_array();
}

}  // namespace

Result<std::string> step_json(const InspectSource& source, int64_t step, const RequestTarget& t) {
  R1_ASSIGN_OR_RETURN(RolloutReader reader, open_db(source));
  R1_ASSIGN_OR_RETURN(std::vector<StoredRollout> all, reader.step_rollouts(step, RolloutOrder::kNatural));
  std::string key = text_param(t, "sort").value_or("group");
  bool descending = text_param(t, "order").value_or(key == "group" ? "asc" : "desc") == "desc";
  std::vector<StoredRollout> shown;
  for (const StoredRollout& r : all)
    if (keep(r, t)) shown.push_back(r);
  std::stable_sort(shown.begin(), shown.end(), [&](const StoredRollout& a, const StoredRollout& b) {
    return descending ? sort_key(a, key) > sort_key(b, key) : sort_key(a, key) < sort_key(b, key);
  });
  std::string pass_component = text_param(t, "component").value_or("accuracy");
  JsonWriter w;
  w.begin_object().key("step").value(step).key("n").value(static_cast<int64_t>(all.size()));
  w.key("pass_component").value(pass_component).key("groups");
  groups_array(w, all, pass_component);
  w.key("samples");
  samples_array(w, shown);
  w.end_object();
  return w.str();
}

Result<std::string> prompt_json(const InspectSource& source, int64_t prompt_index, const RequestTarget& t) {
  R1_ASSIGN_OR_RETURN(RolloutReader reader, open_db(source));
  R1_ASSIGN_OR_RETURN(std::optional<std::string> prompt, reader.prompt_text(prompt_index));
  R1_ASSIGN_OR_RETURN(std::vector<PromptStep> steps, reader.follow_prompt(prompt_index));
  std::string pass_component = text_param(t, "component").value_or("accuracy");
  std::map<int64_t, PassCount> pass;
  RolloutFilter filter;
  filter.prompt_index = prompt_index;
  R1_RETURN_IF_ERROR(reader.for_each_rollout(filter, [&](const StoredRollout& r) {
    pass[r.step].add(r, pass_component);
    return Status();
  }));
  JsonWriter w;
  w.begin_object().key("prompt_index").value(prompt_index).key("prompt");
  if (prompt)
    w.value(*prompt);
  else
    w.null();
  w.key("pass_component").value(pass_component).key("steps").begin_array();
  for (const PromptStep& s : steps) {
    w.begin_object().key("step").value(s.step).key("n").value(s.n).key("reward_mean").value(s.reward_mean);
    w.key("reward_min").value(s.reward_min).key("reward_max").value(s.reward_max);
    w.key("mean_completion_tokens").value(s.mean_completion_tokens).key("pass_rate");
    pass[s.step].write(w);
    w.key("best_completion").value(s.best_completion).end_object();
  }
  w.end_array();
  R1_ASSIGN_OR_RETURN(std::optional<int64_t> a, int_param(t, "a"));
  R1_ASSIGN_OR_RETURN(std::optional<int64_t> b, int_param(t, "b"));
  if (!steps.empty()) {
    std::pair<const char*, int64_t> sides[] = {{"a", a.value_or(steps.front().step)},
                                               {"b", b.value_or(steps.back().step)}};
    for (const auto& [name, step] : sides) {
      filter.step = step;
      R1_ASSIGN_OR_RETURN(std::vector<StoredRollout> rollouts, reader.rollouts(filter, kMaxLimit));
      w.key(name).begin_object().key("step").value(step).key("samples");
      samples_array(w, rollouts);
      w.end_object();
    }
  }
  w.end_object();
  return w.str();
}

Result<std::string> discarded_json(const InspectSource& source, const RequestTarget& t) {
  R1_ASSIGN_OR_RETURN(RolloutReader reader, open_db(source));
  R1_ASSIGN_OR_RETURN(NamedValues counts, reader.discard_counts());
  RolloutFilter filter;
  filter.discarded_only = true;
  filter.discard_reason = text_param(t, "reason");
  R1_ASSIGN_OR_RETURN(filter.step, int_param(t, "step"));
  R1_ASSIGN_OR_RETURN(int64_t limit, limit_param(t));
  R1_ASSIGN_OR_RETURN(std::optional<int64_t> offset, int_param(t, "offset"));
  R1_ASSIGN_OR_RETURN(std::vector<StoredRollout> rollouts, reader.rollouts(filter, limit, offset.value_or(0)));
  JsonWriter w;
  w.begin_object().key("counts");
  named_object(w, counts);
  w.key("samples");
  samples_array(w, rollouts);
  w.end_object();
  return w.str();
}

Result<std::string> search_json(const InspectSource& source, const RequestTarget& t) {
  std::optional<std::string> q = text_param(t, "q");
  if (!q) return Status::error("parameter 'q' (the text to find) is required");
  R1_ASSIGN_OR_RETURN(int64_t limit, limit_param(t));
  R1_ASSIGN_OR_RETURN(RolloutReader reader, open_db(source));
  R1_ASSIGN_OR_RETURN(auto prompts, reader.find_prompts(*q));
  RolloutFilter filter;
  filter.text = q;
  R1_ASSIGN_OR_RETURN(std::vector<StoredRollout> rollouts, reader.rollouts(filter, limit));
  JsonWriter w;
  w.begin_object().key("q").value(*q).key("prompts").begin_array();
  for (size_t i = 0; i < prompts.size() && static_cast<int64_t>(i) < limit; ++i)
    w.begin_object().key("prompt_index").value(prompts[i].first).key("prompt").value(prompts[i].second).end_object();
  w.end_array().key("samples");
  samples_array(w, rollouts);
  w.end_object();
  return w.str();
}

}  // namespace r1
