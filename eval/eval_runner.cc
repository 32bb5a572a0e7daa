#include "eval/eval_runner.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>

#include "data/jsonl_dataset.h"
#include "data/prompt_set.h"
#include "eval/eval_dataset.h"
#include "model/device.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "reward/reward_spec.h"
#include "rollout/rollout_store.h"
#include "rollout/rollout_worker_pool.h"
#include "rollout/sample_and_score.h"
#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace {

namespace fs = std::filesystem;
std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

Result<size_t> accuracy_index(const RewardFunction& fn, const std::string& wanted) {
  std::vector<std::string> names = fn.component_names();
  if (names.empty()) return Status::error("the reward spec has no components");
  const std::string& name = wanted.empty() ? std::string("accuracy") : wanted;
  auto it = std::find(names.begin(), names.end(), name);
  if (it != names.end()) return static_cast<size_t>(it - names.begin());
  if (wanted.empty()) return size_t{0};
  return Status::error("field 'accuracy_component': the reward spec has no component '" + wanted +
                       "' (components: " + join(names) + ")");
}

Result<Tokenizer> load_tokenizer(const std::string& model_dir) {
  if (!fs::is_directory(model_dir)) return Status::error("field 'model': '" + model_dir + "' is not a model folder");
  if (!fs::exists(fs::path(model_dir) / "tokenizer.json"))
    return Status::error(model_dir + ": no tokenizer.json (evaluation renders text prompts and decodes completions)");
  return Tokenizer::load(model_dir);
}

Result<Transformer> load_model(const EvalConfig& c) {
  R1_ASSIGN_OR_RETURN(LoadOptions load, resolve_load_options(c.compute, at::ScalarType::Undefined, false));
  if (c.threads > 0) at::set_num_threads(static_cast<int>(c.threads));
  return Transformer::load(c.model, load);
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string default_output_dir(const std::string& label) {
  std::string name = label;
  for (char& ch : name)
    if (ch == ':' || ch == '/' || ch == ' ') ch = '-';
  return "runs/eval-" + name;
}

// Everything checked before generation starts.
struct Plan {
  EvalConfig config;  // with template, reward, stop, sampling and output_dir resolved
  EvalDataset data;
  RewardFunction reward;
  size_t accuracy = 0;
  PromptSet prompts;
};

Result<Plan> make_plan(const EvalConfig& config, const Tokenizer& tok) {
  Plan p;
  p.config = config;
  R1_ASSIGN_OR_RETURN(p.data, load_eval_dataset(config));
  R1_ASSIGN_OR_RETURN(p.reward, RewardFunction::from_text(p.data.reward_spec, "reward spec"));
  R1_ASSIGN_OR_RETURN(p.accuracy, accuracy_index(p.reward, config.accuracy_component));
  R1_ASSIGN_OR_RETURN(std::optional<ChatTemplate> tmpl, resolve_chat_template(p.data.template_name, tok));
  R1_ASSIGN_OR_RETURN(p.prompts, make_prompt_set(p.data.examples, tmpl, tok));
  R1_RETURN_IF_ERROR(check_reward_references(p.reward, p.prompts));
  EvalConfig& c = p.config;
  c.template_name = tmpl ? chat_template_name(tmpl->kind) : "none";
  c.reward = p.data.reward_spec;
  c.stop = p.data.stop;
  c.temperature = config.resolved_temperature();
  c.top_p = config.resolved_top_p();
  if (c.output_dir.empty()) c.output_dir = default_output_dir(p.data.label);
  if (c.name.empty()) c.name = "eval " + p.data.label;
  return p;
}

Status check_prompts(const Plan& p, const Transformer& model) {
  const ModelConfig& mc = model.config();
  for (size_t i = 0; i < p.prompts.size(); ++i) {
    const Example& e = p.data.examples[i];
    int64_t n = static_cast<int64_t>(p.prompts.ids[i].size());
    if (n >= mc.max_position_embeddings)
      return Status::error(e.where + ": the prompt has " + std::to_string(n) +
                           " tokens, which leaves no room in the model's context of " +
                           std::to_string(mc.max_position_embeddings));
    R1_RETURN_IF_ERROR(mc.check_token_ids(p.prompts.ids[i], e.where));
  }
  return Status();
}

// Samples and scores one batch of examples [first, first + n); appends the
// samples and each example's outcomes.
struct Collected {
  std::vector<Sample> samples;
  std::vector<std::vector<SampleOutcome>> outcomes;
  bool voting = false;
  int64_t completion_tokens = 0;
  double generation_seconds = 0, scoring_seconds = 0;
};

RolloutSampling eval_sampling(const EvalConfig& c) {
  return {.num_generations = c.samples,
          .max_completion_length = c.max_new_tokens,
          .options = c.sampling_options(),
          .stop_token_ids = {},
          .stop_strings = *c.stop,
          .seed = static_cast<uint64_t>(c.seed)};
}

Status run_batch(const Plan& p, RolloutWorker& worker, size_t first, size_t n, Collected& out) {
  const EvalConfig& c = p.config;
  std::vector<int64_t> indices(n);
  for (size_t i = 0; i < n; ++i) indices[i] = static_cast<int64_t>(first + i);
  R1_ASSIGN_OR_RETURN(ScoredRollout scored,
                      sample_and_score(worker, make_rollout_request(p.prompts, indices, eval_sampling(c)), p.prompts,
                                       p.reward, static_cast<int>(c.reward_workers)));
  out.generation_seconds += scored.sample_seconds;
  out.scoring_seconds += scored.reward_seconds;
  for (size_t i = 0; i < n; ++i) out.outcomes.emplace_back();
  for (Sample& s : scored.result.samples) {
    const ComponentScore& acc = s.reward.components[p.accuracy];
    SampleOutcome o;
    o.correct = acc.score >= 1.0;
    bool has_answer = false;
    o.answer = answer_from_details(acc.details, &has_answer);
    out.voting = out.voting || has_answer;
    out.outcomes[s.prompt_index].push_back(std::move(o));
    s.group_index = s.prompt_index;
    out.completion_tokens += static_cast<int64_t>(s.token_ids.size());
    out.samples.push_back(std::move(s));
  }
  return Status();
}

Result<EvalSummary> summarise_run(const Plan& p, const Collected& run) {
  EvalSummary s;
  const EvalConfig& c = p.config;
  s.model = c.model;
  s.dataset = p.data.label;
  s.source = p.data.source;
  s.total_examples = p.data.total_examples;
  R1_ASSIGN_OR_RETURN(s.metrics, compute_metrics(run.outcomes, run.voting));
  std::vector<std::string> names = p.reward.component_names();
  std::vector<double> sums(names.size(), 0.0);
  int64_t truncated = 0;
  double total = 0;
  for (const Sample& r : run.samples) {
    for (size_t i = 0; i < names.size(); ++i) sums[i] += r.reward.components[i].score;
    truncated += r.finish_reason == "length" ? 1 : 0;
    total += r.reward.total;
  }
  double n = static_cast<double>(run.samples.size());
  for (size_t i = 0; i < names.size(); ++i) s.component_means.emplace_back(names[i], sums[i] / n);
  s.accuracy_component = names[p.accuracy];
  s.completion_tokens = run.completion_tokens;
  s.mean_completion_tokens = static_cast<double>(run.completion_tokens) / n;
  s.truncated_fraction = static_cast<double>(truncated) / n;
  s.reward_mean = total / n;
  s.generation_seconds = run.generation_seconds;
  s.scoring_seconds = run.scoring_seconds;
  s.output_dir = c.output_dir;
  s.resolved_config_json = eval_config_json(c);
  return s;
}

StepMetrics step_metrics(const EvalSummary& s) {
  StepMetrics m;
  m.step = 0;
  m.wall_time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto add = [&](const std::string& name, double v) { m.metrics.emplace_back(name, v); };
  add("pass@1", s.metrics.pass_at_1);
  add("pass@k", s.metrics.pass_at_k);
  if (s.metrics.maj_at_k) add("maj@k", *s.metrics.maj_at_k);
  add("k", static_cast<double>(s.metrics.k));
  add("examples", static_cast<double>(s.metrics.examples));
  add("reward", s.reward_mean);
  for (const auto& [name, mean] : s.component_means) add("rewards/" + name + "/mean", mean);
  add("completions/mean_length", s.mean_completion_tokens);
  add("completions/clipped_ratio", s.truncated_fraction);
  add("generation_seconds", s.generation_seconds);
  add("scoring_seconds", s.scoring_seconds);
  return m;
}

void remove_db_files(const fs::path& db) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(db.string() + suffix, ec);
}

// eval.db is built under a temporary name and renamed into place, so a
// reader never sees a half-written store, then eval.json (atomic) marks the
// run complete.
Status write_db(const fs::path& dir, const RunInfo& info, const std::vector<Sample>& samples, StepMetrics metrics) {
  fs::path tmp = dir / "eval.db.tmp", db = dir / "eval.db";
  remove_db_files(tmp);
  Status status = [&]() -> Status {
    R1_ASSIGN_OR_RETURN(std::unique_ptr<RolloutStore> store, RolloutStore::open(tmp.string()));
    R1_RETURN_IF_ERROR(store->write_run_info(info));
    R1_RETURN_IF_ERROR(store->append(samples));
    R1_RETURN_IF_ERROR(store->append_metrics(std::move(metrics)));
    R1_RETURN_IF_ERROR(store->close());
    // Closing the last connection checkpoints the WAL into the file and
    // deletes it; a WAL left behind would hold commits the rename would lose.
    if (fs::exists(tmp.string() + "-wal")) return Status::error(tmp.string() + "-wal was left after closing");
    return Status();
  }();
  if (!status.ok()) {
    remove_db_files(tmp);
    return status;
  }
  remove_db_files(db);
  std::error_code ec;
  fs::rename(tmp, db, ec);
  if (ec) return Status::error("cannot rename " + tmp.string() + " to " + db.string() + ": " + ec.message());
  return Status();
}

}  // namespace

std::string EvalSummary::to_json() const {
  JsonWriter w;
  w.begin_object().key("model").value(model).key("dataset").value(dataset).key("source").value(source);
  w.key("examples").value(metrics.examples).key("total_examples").value(total_examples);
  w.key("samples").value(metrics.k).key("pass@1").value(metrics.pass_at_1).key("maj@k");
  if (metrics.maj_at_k)
    w.value(*metrics.maj_at_k);
  else
    w.null();
  w.key("pass@k").value(metrics.pass_at_k);
  w.key("mean_completion_tokens").value(mean_completion_tokens).key("truncated_fraction").value(truncated_fraction);
  w.key("reward_mean").value(reward_mean).key("accuracy_component").value(accuracy_component);
  w.key("components").begin_object();
  for (const auto& [name, mean] : component_means) w.key(name).value(mean);
  w.end_object();
  w.key("completion_tokens").value(completion_tokens).key("generation_seconds").value(generation_seconds);
  w.key("scoring_seconds").value(scoring_seconds).key("db").value("eval.db");
  w.key("config").raw(resolved_config_json).end_object();
  return w.str();
}

Result<EvalSummary> run_eval(const EvalConfig& config, std::FILE* log) {
  R1_RETURN_IF_ERROR(validate_eval_config(config));
  R1_ASSIGN_OR_RETURN(Tokenizer tok, load_tokenizer(config.model));
  R1_ASSIGN_OR_RETURN(Plan plan, make_plan(config, tok));
  // In this process the prompts must fit the model's context; a remote
  // worker checks that itself.
  auto load = [&]() -> Result<Transformer> {
    R1_ASSIGN_OR_RETURN(Transformer model, load_model(config));
    R1_RETURN_IF_ERROR(check_prompts(plan, model));
    return model;
  };
  R1_ASSIGN_OR_RETURN(JobWorker worker, make_job_worker(config.rollout, load, tok, log));
  const EvalConfig& c = plan.config;
  if (fs::exists(c.output_dir) && !fs::is_directory(c.output_dir))
    return Status::error("field 'output_dir': '" + c.output_dir + "' exists and is not a folder");
  if (log)
    std::fprintf(log, "r1 eval: %s (%s), %zu of %lld examples, k=%lld, temperature %g, top_p %g, template %s\n",
                 plan.data.label.c_str(), plan.data.source.c_str(), plan.data.examples.size(),
                 static_cast<long long>(plan.data.total_examples), static_cast<long long>(c.samples), *c.temperature,
                 *c.top_p, c.template_name.c_str());

  Collected run;
  size_t total = plan.data.examples.size();
  for (size_t first = 0; first < total; first += static_cast<size_t>(c.batch_size)) {
    size_t n = std::min(total - first, static_cast<size_t>(c.batch_size));
    R1_RETURN_IF_ERROR(run_batch(plan, *worker.worker, first, n, run));
    if (log) {
      double correct = 0;
      for (const auto& samples : run.outcomes)
        for (const auto& s : samples) correct += s.correct ? 1 : 0;
      std::fprintf(log, "r1 eval: %zu/%zu examples, pass@1 so far %.4f, %.1f tok/s\n", first + n, total,
                   correct / static_cast<double>(run.samples.size()),
                   static_cast<double>(run.completion_tokens) / std::max(run.generation_seconds, 1e-9));
      std::fflush(log);
    }
  }

  R1_ASSIGN_OR_RETURN(EvalSummary summary, summarise_run(plan, run));
  RunInfo info;
  info.created_at = utc_now();
  info.run_id = "eval-" + info.created_at;
  info.name = c.name;
  info.config_json = summary.resolved_config_json;
  info.model_path = c.model;
  info.dataset = plan.data.label;
  R1_RETURN_IF_ERROR(make_dirs(c.output_dir));
  R1_RETURN_IF_ERROR(write_db(c.output_dir, info, run.samples, step_metrics(summary)));
  R1_RETURN_IF_ERROR(write_file_atomic((fs::path(c.output_dir) / "eval.json").string(), summary.to_json() + "\n"));
  return summary;
}

}  // namespace r1
