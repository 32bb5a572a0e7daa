#include "eval/eval_runner.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <memory>

#include "data/jsonl_dataset.h"
#include "eval/eval_dataset.h"
#include "model/chat_template.h"
#include "model/generate.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "reward/batch_scorer.h"
#include "reward/reward_spec.h"
#include "rollout/rollout_store.h"
#include "util/file.h"
#include "util/json.h"

namespace r1 {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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
  return Status::error("key 'accuracy_component': the reward spec has no component '" + wanted +
                       "' (components: " + join(names) + ")");
}

Result<std::optional<ChatTemplate>> resolve_template(const std::string& name, const Tokenizer& tok) {
  if (name != "auto") return spec_chat_template(name);
  R1_ASSIGN_OR_RETURN(ChatTemplate t, detect_chat_template(tok));
  return std::optional<ChatTemplate>(t);
}

Result<Tokenizer> load_tokenizer(const std::string& model_dir) {
  if (!fs::is_directory(model_dir)) return Status::error("key 'model': '" + model_dir + "' is not a model folder");
  if (!fs::exists(fs::path(model_dir) / "tokenizer.json"))
    return Status::error(model_dir + ": no tokenizer.json (evaluation renders text prompts and decodes completions)");
  return Tokenizer::load(model_dir);
}

Result<Transformer> load_model(const EvalConfig& c) {
  LoadOptions load;
  if (c.dtype == "float32") load.dtype = at::kFloat;
  if (c.dtype == "bfloat16") load.dtype = at::kBFloat16;
  if (c.dtype == "float16") load.dtype = at::kHalf;
  if (c.threads > 0) at::set_num_threads(static_cast<int>(c.threads));
  return Transformer::load(c.model, load);
}

// The completion as vLLM returns it: cut before the first stop string.
std::string cut_at_stop(std::string text, const std::vector<std::string>& stops) {
  size_t cut = std::string::npos;
  for (const auto& s : stops) cut = std::min(cut, text.find(s));
  if (cut != std::string::npos) text.resize(cut);
  return text;
}

// Batches draw from distinct, well-mixed streams (SplitMix64 finaliser).
uint64_t batch_seed(int64_t seed, size_t first_example) {
  uint64_t z = static_cast<uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + first_example + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

LogProbSummary summarise(const std::vector<float>& logprobs) {
  LogProbSummary s;
  if (logprobs.empty()) return s;
  s.min = logprobs.front();
  for (float x : logprobs) {
    s.sum += x;
    s.min = std::min<double>(s.min, x);
  }
  s.mean = s.sum / static_cast<double>(logprobs.size());
  return s;
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
  std::vector<std::string> prompts;  // rendered
  std::vector<std::vector<int64_t>> prompt_ids;
};

Result<Plan> make_plan(const EvalConfig& config, const Tokenizer& tok) {
  Plan p;
  p.config = config;
  R1_ASSIGN_OR_RETURN(p.data, load_eval_dataset(config));
  R1_ASSIGN_OR_RETURN(p.reward, RewardFunction::from_text(p.data.reward_spec, "reward spec"));
  R1_ASSIGN_OR_RETURN(p.accuracy, accuracy_index(p.reward, config.accuracy_component));
  R1_ASSIGN_OR_RETURN(std::optional<ChatTemplate> tmpl, resolve_template(p.data.template_name, tok));
  for (const Example& e : p.data.examples) {
    R1_ASSIGN_OR_RETURN(std::string text, render_prompt(e, tmpl));
    p.prompt_ids.push_back(tok.encode(text));
    p.prompts.push_back(std::move(text));
  }
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
  for (size_t i = 0; i < p.prompt_ids.size(); ++i) {
    const Example& e = p.data.examples[i];
    int64_t n = static_cast<int64_t>(p.prompt_ids[i].size());
    if (n == 0) return Status::error(e.where + ": the prompt renders to no tokens");
    if (n >= mc.max_position_embeddings)
      return Status::error(e.where + ": the prompt has " + std::to_string(n) +
                           " tokens, which leaves no room in the model's context of " +
                           std::to_string(mc.max_position_embeddings));
    R1_RETURN_IF_ERROR(mc.check_token_ids(p.prompt_ids[i], e.where));
  }
  return Status();
}

// Samples and scores one batch of examples [first, first + n); appends the
// records and each example's outcomes.
struct Collected {
  std::vector<RolloutRecord> records;
  std::vector<std::vector<SampleOutcome>> outcomes;
  bool voting = false;
  int64_t completion_tokens = 0;
  double generation_seconds = 0, scoring_seconds = 0;
};

Status run_batch(const Plan& p, const Transformer& model, const Tokenizer& tok, size_t first, size_t n,
                 Collected& out) {
  const EvalConfig& c = p.config;
  GenerationOptions g;
  g.max_new_tokens = c.max_new_tokens;
  g.num_samples = c.samples;
  g.sampling.temperature = *c.temperature;
  g.sampling.top_p = *c.top_p;
  g.sampling.top_k = c.top_k;
  g.stop_strings = *c.stop;
  if (!g.stop_strings.empty()) g.decode = [&tok](const std::vector<int64_t>& ids) { return tok.decode(ids); };
  g.seed = batch_seed(c.seed, first);
  std::vector<std::vector<int64_t>> ids(p.prompt_ids.begin() + first, p.prompt_ids.begin() + first + n);
  auto start = Clock::now();
  R1_ASSIGN_OR_RETURN(std::vector<Completion> completions, generate(model, ids, g));
  double generation_seconds = seconds_since(start);
  out.generation_seconds += generation_seconds;

  std::vector<rapidjson::Document> refs(n);
  for (size_t i = 0; i < n; ++i) {
    R1_ASSIGN_OR_RETURN(refs[i], reference_document(p.data.examples[first + i]));
  }
  std::vector<RewardInput> inputs;
  for (const Completion& comp : completions) {
    RewardInput in;
    in.completion = cut_at_stop(tok.decode(comp.token_ids, /*skip_special_tokens=*/true), g.stop_strings);
    in.num_tokens = static_cast<int64_t>(comp.token_ids.size());
    in.finish_reason = comp.finish_reason;
    in.reference = &refs[comp.prompt_index];
    in.where = p.data.examples[first + comp.prompt_index].where + " sample " + std::to_string(comp.sample_index);
    inputs.push_back(std::move(in));
  }
  start = Clock::now();
  R1_ASSIGN_OR_RETURN(std::vector<RewardResult> results, score_batch(p.reward, inputs, static_cast<int>(c.reward_workers)));
  out.scoring_seconds += seconds_since(start);

  for (size_t i = 0; i < n; ++i) out.outcomes.emplace_back();
  size_t base = out.outcomes.size() - n;
  for (size_t j = 0; j < completions.size(); ++j) {
    const Completion& comp = completions[j];
    const RewardResult& res = results[j];
    const Example& e = p.data.examples[first + comp.prompt_index];
    const ComponentScore& acc = res.components[p.accuracy];
    SampleOutcome o;
    o.correct = acc.score >= 1.0;
    bool has_answer = false;
    o.answer = answer_from_details(acc.details, &has_answer);
    out.voting = out.voting || has_answer;
    out.outcomes[base + comp.prompt_index].push_back(std::move(o));

    RolloutRecord r;
    r.prompt_index = e.index;
    r.group_index = static_cast<int64_t>(first) + comp.prompt_index;
    r.sample_index = comp.sample_index;
    r.prompt = p.prompts[first + comp.prompt_index];
    r.completion = std::move(inputs[j].completion);
    r.prompt_tokens = static_cast<int64_t>(p.prompt_ids[first + comp.prompt_index].size());
    r.completion_tokens = static_cast<int64_t>(comp.token_ids.size());
    r.finish_reason = comp.finish_reason;
    for (const ComponentScore& cs : res.components) r.reward_components.emplace_back(cs.name, cs.score);
    r.total_reward = res.total;
    r.old_logprob = summarise(comp.logprobs);
    // The batch is generated together; each sample gets an equal share.
    r.generation_ms = 1000.0 * generation_seconds / static_cast<double>(completions.size());
    if (!e.answer.empty()) r.reference_answer = e.answer;
    out.completion_tokens += r.completion_tokens;
    out.records.push_back(std::move(r));
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
  for (const RolloutRecord& r : run.records) {
    for (size_t i = 0; i < names.size(); ++i) sums[i] += r.reward_components[i].second;
    truncated += r.finish_reason == "length" ? 1 : 0;
    total += r.total_reward;
  }
  double n = static_cast<double>(run.records.size());
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
Status write_db(const fs::path& dir, const RunInfo& info, std::vector<RolloutRecord> records, StepMetrics metrics) {
  fs::path tmp = dir / "eval.db.tmp", db = dir / "eval.db";
  remove_db_files(tmp);
  Status status = [&]() -> Status {
    R1_ASSIGN_OR_RETURN(std::unique_ptr<RolloutStore> store, RolloutStore::open(tmp.string()));
    R1_RETURN_IF_ERROR(store->write_run_info(info));
    R1_RETURN_IF_ERROR(store->append(std::move(records)));
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
  R1_ASSIGN_OR_RETURN(Transformer model, load_model(config));
  R1_RETURN_IF_ERROR(check_prompts(plan, model));
  const EvalConfig& c = plan.config;
  if (fs::exists(c.output_dir) && !fs::is_directory(c.output_dir))
    return Status::error("key 'output_dir': '" + c.output_dir + "' exists and is not a folder");
  if (log)
    std::fprintf(log, "r1 eval: %s (%s), %zu of %lld examples, k=%lld, temperature %g, top_p %g, template %s\n",
                 plan.data.label.c_str(), plan.data.source.c_str(), plan.data.examples.size(),
                 static_cast<long long>(plan.data.total_examples), static_cast<long long>(c.samples), *c.temperature,
                 *c.top_p, c.template_name.c_str());

  Collected run;
  size_t total = plan.data.examples.size();
  for (size_t first = 0; first < total; first += static_cast<size_t>(c.batch_size)) {
    size_t n = std::min(total - first, static_cast<size_t>(c.batch_size));
    R1_RETURN_IF_ERROR(run_batch(plan, model, tok, first, n, run));
    if (log) {
      double correct = 0;
      for (const auto& samples : run.outcomes)
        for (const auto& s : samples) correct += s.correct ? 1 : 0;
      std::fprintf(log, "r1 eval: %zu/%zu examples, pass@1 so far %.4f, %.1f tok/s\n", first + n, total,
                   correct / static_cast<double>(run.records.size()),
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
  R1_RETURN_IF_ERROR(write_db(c.output_dir, info, std::move(run.records), step_metrics(summary)));
  R1_RETURN_IF_ERROR(write_file_atomic((fs::path(c.output_dir) / "eval.json").string(), summary.to_json() + "\n"));
  return summary;
}

}  // namespace r1
