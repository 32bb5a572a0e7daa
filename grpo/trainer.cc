#include "grpo/trainer.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <cmath>
#include <filesystem>
#include <random>

#include "data/batch_sampler.h"
#include "distill/distill_loss.h"
#include "grpo/advantages.h"
#include "grpo/discard_reasons.h"
#include "grpo/learner.h"
#include "grpo/rl_job.h"
#include "grpo/moe_routing.h"
#include "grpo/rl_metrics.h"
#include "model/device.h"
#include "rollout/rollout_store.h"
#include "rollout/rollout_worker_pool.h"
#include "rollout/sample_and_score.h"
#include "train/lr_schedule.h"
#include "train/process_group.h"
#include "train/run_log.h"
#include "train/train_state.h"
#include "train/zero.h"
#include "util/counter_rng.h"
#include "util/file.h"
#include "util/json.h"
#include "util/process.h"
#include "util/serial_executor.h"

namespace r1 {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kRefModelFile = "ref_model.safetensors";

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A seed for each (generation, round), so a resumed run samples exactly what
// the uninterrupted run sampled, with no generator state to carry; round -1
// seeds the shuffle of the generation's updates.
uint64_t derive_seed(uint64_t seed, int64_t generation, int64_t round) {
  return stream_key({seed, static_cast<uint64_t>(generation), static_cast<uint64_t>(round)});
}

// Everything the run carries from step to step.
struct Run {
  Run(const RLConfig& c, std::FILE* log_to, Tokenizer tok, RLJob rl_job, Transformer model)
      : config(c), log(log_to), tokenizer(std::move(tok)), job(std::move(rl_job)), policy(std::move(model)) {}

  const RLConfig& config;
  std::FILE* log;
  Tokenizer tokenizer;
  RLJob job;
  Transformer policy;
  std::optional<Transformer> reference;
  std::optional<Transformer> teacher;  // on-policy distillation only
  std::unique_ptr<AdamW> optimizer;
  std::optional<BatchSampler> sampler;  // drawn from by the sampling side only
  std::string trained_cursor;           // the sampler's state after the last trained generation
  TrainerState state;
  int64_t generation = 0;  // generations done
  int64_t num_tokens = 0;  // prompt + completion tokens sampled so far (TRL's num_tokens)
  LrSchedule schedule;
  std::unique_ptr<RolloutStore> store;
  std::optional<MetricsLog> metrics;
  ProcessInfo process;  // only the run-folder writer opens store and metrics, and saves
  std::unique_ptr<ProcessGroup> group;  // several ranks: they split each step's sampling and micro-batches
  CollectiveTotals logged_totals;       // group->totals() at the last logged step
  // Generations sampled ahead that a resumed run samples again first: the
  // weights each was sampled with (read from the checkpoint), in order.
  std::vector<std::pair<int64_t, std::shared_ptr<const Transformer>>> resumed_in_flight;
};

// A generation handed to the sampling side: sampled on the executor's
// thread (async) or when first waited for (sync), with `weights`.
struct PendingGeneration {
  int64_t index = 0;
  int64_t policy_version = 0;
  std::shared_ptr<const Transformer> weights;  // a snapshot (async); null = run.policy itself (sync)
  std::future<Result<RLGeneration>> result{};
};

std::string in_flight_file(int64_t generation) {
  return "sampling_policy.generation_" + std::to_string(generation) + ".safetensors";
}

std::string cursor_json(const Run& run, const std::deque<PendingGeneration>& in_flight) {
  JsonWriter w;
  w.begin_object().key("sampler").raw(run.trained_cursor);
  w.key("generation").value(run.generation).key("num_tokens").value(run.num_tokens);
  w.key("world_size").value(run.process.world_size);
  w.key("in_flight").begin_array();
  for (const PendingGeneration& p : in_flight)
    w.begin_object().key("generation").value(p.index).key("policy_version").value(p.policy_version).end_object();
  w.end_array().end_object();
  return w.str();
}

// The weights of each generation that was sampled ahead of the checkpoint.
Status restore_in_flight(Run& run, const rapidjson::Value& in_flight, const std::string& dir) {
  for (const auto& entry : in_flight.GetArray()) {
    const std::string where = dir + "/trainer_state.json data_cursor.in_flight";
    R1_ASSIGN_OR_RETURN(int64_t generation, json_int(entry, "generation", where));
    R1_ASSIGN_OR_RETURN(int64_t version, json_int(entry, "policy_version", where));
    R1_ASSIGN_OR_RETURN(SafetensorsFile file, load_safetensors(dir + "/" + in_flight_file(generation)));
    const Transformer& policy = run.policy;
    R1_ASSIGN_OR_RETURN(Transformer weights,
                        Transformer::from_tensors(policy.config(), std::move(file.tensors),
                                                  {.dtype = policy.dtype(), .device = policy.device()}));
    if (generation != run.generation + static_cast<int64_t>(run.resumed_in_flight.size()))
      return Status::error(where + ": generation " + std::to_string(generation) + " is out of order");
    run.resumed_in_flight.emplace_back(version, std::make_shared<const Transformer>(std::move(weights)));
  }
  return Status();
}

Status restore_cursor(Run& run, const std::string& dir) {
  const std::string where = dir + "/trainer_state.json";
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(run.state.data_cursor, where));
  if (!doc.IsObject() || !doc.HasMember("sampler")) return Status::error(where + ": data_cursor lacks 'sampler'");
  R1_ASSIGN_OR_RETURN(run.generation, json_int(doc, "generation", where + " data_cursor"));
  R1_ASSIGN_OR_RETURN(run.num_tokens, json_int(doc, "num_tokens", where + " data_cursor"));
  // Checkpoints from before data parallelism hold no world size: one process wrote them.
  int64_t world_size = doc.HasMember("world_size") && doc["world_size"].IsInt64() ? doc["world_size"].GetInt64() : 1;
  R1_RETURN_IF_ERROR(check_resume_world_size(world_size, run.process.world_size, dir));
  run.trained_cursor = json_to_string(doc["sampler"]);
  R1_ASSIGN_OR_RETURN(BatchSampler sampler,
                      BatchSampler::from_state_json(run.trained_cursor, run.job.dataset.examples.size(),
                                                    static_cast<uint64_t>(run.config.grpo.seed), where));
  run.sampler = std::move(sampler);
  if (doc.HasMember("in_flight") && doc["in_flight"].IsArray())
    R1_RETURN_IF_ERROR(restore_in_flight(run, doc["in_flight"], dir));
  return Status();
}

// ---------------------------------------------------------------- rollouts

RolloutRequest make_request(const Run& run, const std::vector<int64_t>& examples, uint64_t seed, int64_t step,
                            int64_t policy_version) {
  const GRPOConfig& g = run.config.grpo;
  RolloutSampling sampling{.num_generations = g.num_generations,
                           .max_completion_length = g.max_completion_length,
                           .options = g.sampling_options(),
                           .stop_token_ids = {},
                           .stop_strings = {},
                           .seed = seed,
                           // MoE: the learner replays the routes or reports how far its own differ
                           .record_routes = run.policy.config().moe.n_routed_experts > 0};
  return make_rollout_request(run.job.prompts, examples, sampling, step, policy_version);
}

// DAPO's soft overlong punishment: 0 up to max - buffer, then linear down to
// -factor at max_completion_length.
double overlong_penalty(const GRPOConfig& g, int64_t length) {
  if (g.overlong_buffer_length <= 0) return 0.0;
  int64_t expected = g.max_completion_length - g.overlong_buffer_length;
  if (length <= expected) return 0.0;
  return -static_cast<double>(length - expected) / g.overlong_buffer_length * g.overlong_penalty_factor;
}

// Samples G completions for each example and scores them; the overlong
// penalty joins the reward as one more component.
Result<std::vector<Sample>> sample_round(Run& run, RolloutWorker& worker, const RolloutRequest& request,
                                         RLGenerationStats& stats) {
  R1_ASSIGN_OR_RETURN(ScoredRollout scored, sample_and_score(worker, request, run.job.prompts, *run.job.reward,
                                                             static_cast<int>(run.config.reward_workers),
                                                             run.group.get()));
  stats.generate_seconds += scored.sample_seconds;
  stats.reward_seconds += scored.reward_seconds;
  stats.completion_tokens += scored.result.completion_tokens;
  const GRPOConfig& g = run.config.grpo;
  for (Sample& s : scored.result.samples) {
    stats.prompt_tokens += static_cast<int64_t>(s.prompt_ids.size());
    if (g.overlong_buffer_length <= 0) continue;
    double penalty = overlong_penalty(g, static_cast<int64_t>(s.token_ids.size()));
    s.reward.components.push_back({.name = "overlong_penalty", .weight = 1.0, .score = penalty, .details = "{}"});
    s.reward.total += penalty;
  }
  return std::move(scored.result.samples);
}

Status assign_advantages(const Run& run, std::vector<Sample>& samples, const std::vector<size_t>& trained) {
  at::Tensor rewards = at::empty({static_cast<int64_t>(trained.size())}, at::kDouble);
  double* r = rewards.data_ptr<double>();
  for (size_t i = 0; i < trained.size(); ++i) r[i] = samples[trained[i]].reward.total;
  const GRPOConfig& g = run.config.grpo;
  R1_ASSIGN_OR_RETURN(AdvantageFn estimator, advantage_estimator(g.advantage_estimator));
  R1_ASSIGN_OR_RETURN(AdvantageOutput out, estimator(rewards, {g.num_generations, g.scale_rewards}));
  at::Tensor advantages = out.advantages.to(at::kDouble).contiguous();
  for (size_t i = 0; i < trained.size(); ++i) {
    samples[trained[i]].advantage = advantages.data_ptr<double>()[i];
    samples[trained[i]].trained = true;
  }
  return Status();
}

// Generation `index`, sampled with the weights of global step
// `policy_version`: rounds of sampling until the batch has its groups
// (dynamic sampling keeps only groups whose rewards differ), then
// advantages. Only this touches run.sampler during a run.
Result<RLGeneration> generate(Run& run, RolloutWorker& worker, int64_t index, int64_t policy_version) {
  const GRPOConfig& g = run.config.grpo;
  const int64_t G = g.num_generations, want = run.job.plan.prompts_per_generation;
  const int64_t first_step = index * run.job.plan.steps_per_generation + 1;
  RLGeneration gen;
  gen.index = index;
  gen.policy_version = policy_version;
  std::vector<size_t> last_round;
  for (int64_t round = 0;; ++round) {
    R1_ASSIGN_OR_RETURN(std::vector<int64_t> examples, run.sampler->next_batch(want));
    uint64_t seed = derive_seed(static_cast<uint64_t>(g.seed), index, round);
    RolloutRequest request = make_request(run, examples, seed, first_step, policy_version);
    R1_ASSIGN_OR_RETURN(std::vector<Sample> samples, sample_round(run, worker, request, gen.stats));
    last_round.clear();
    for (size_t begin = 0; begin < samples.size(); begin += G) {
      size_t at = gen.samples.size() + begin;
      for (int64_t j = 0; j < G; ++j) last_round.push_back(at + j);
      bool keep = !g.dynamic_sampling || !group_is_degenerate(samples, begin, G);
      if (keep && static_cast<int64_t>(gen.trained.size()) < want * G)
        for (int64_t j = 0; j < G; ++j) gen.trained.push_back(at + j);
    }
    for (size_t i = 0; i < samples.size(); ++i)
      samples[i].group_index = static_cast<int64_t>((gen.samples.size() + i) / G);
    gen.samples.insert(gen.samples.end(), std::make_move_iterator(samples.begin()),
                       std::make_move_iterator(samples.end()));
    gen.stats.rounds = round + 1;
    bool full = static_cast<int64_t>(gen.trained.size()) >= want * G;
    if (!g.dynamic_sampling || full || (g.max_num_gen_batches > 0 && round + 1 >= g.max_num_gen_batches)) break;
  }
  // Every group had equal rewards: train on the last round (zero advantages,
  // so only the KL term moves the policy) rather than skip the step.
  if (gen.trained.empty()) gen.trained = last_round;
  R1_RETURN_IF_ERROR(assign_advantages(run, gen.samples, gen.trained));
  mark_discarded(gen.samples, gen.trained, G, g.mask_truncated_completions);
  gen.cursor_after = run.sampler->state_json();
  gen.epoch_after = static_cast<double>(run.sampler->cursor().epoch) +
                    static_cast<double>(run.sampler->cursor().position) / run.sampler->dataset_size();
  return gen;
}

std::vector<Sample> learner_batch(const RLGeneration& gen, const std::vector<size_t>& rows) {
  std::vector<Sample> batch;
  for (size_t i : rows) batch.push_back(gen.samples[i]);
  return batch;
}

// π_ref ← α·π_θ + (1-α)·π_ref (TRL's SyncRefModelCallback).
void sync_reference(Run& run) {
  at::NoGradGuard no_grad;
  double alpha = run.config.grpo.ref_model_mixup_alpha;
  for (const auto& [name, ref] : run.reference->tensors()) {
    const at::Tensor& pol = run.policy.tensors().at(name);
    ref.mul_(1.0 - alpha).add_(pol.to(ref.scalar_type()), alpha);
  }
}

void print_progress(const Run& run, const std::map<std::string, double>& m, double eta) {
  if (!run.log) return;
  const int64_t step = run.state.global_step, total = run.job.plan.total_steps;
  std::string components;
  for (const std::string& name : run.job.reward->component_names()) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " | %s %.3f", name.c_str(), m.at("rewards/" + name + "/mean"));
    components += buf;
  }
  std::fprintf(run.log,
               "step %lld/%lld %s reward %.3f ±%.3f%s | len %.1f | kl %.4f | loss %.4f | %.1fs/step | ETA %s\n",
               (long long)step, (long long)total, progress_bar(step, total).c_str(), m.at("reward"), m.at("reward_std"),
               components.c_str(), m.at("completions/mean_length"), m.count("kl") ? m.at("kl") : 0.0, m.at("loss"),
               m.at("step_time"), format_duration(eta).c_str());
  std::fflush(run.log);
}

Status log_step(Run& run, std::map<std::string, double> m) {
  if (!run.process.writes_run_folder()) return Status();
  m["epoch"] = run.state.epoch;
  JsonWriter w;
  w.begin_object().key("step").value(run.state.global_step);
  for (const auto& [k, v] : m) w.key(k).value(v);
  w.end_object();
  R1_RETURN_IF_ERROR(run.metrics->append(run.state, w.str()));
  StepMetrics sm;
  sm.step = run.state.global_step;
  sm.metrics.assign(m.begin(), m.end());
  sm.wall_time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return run.store->append_metrics(std::move(sm));
}

// What the generation's updates compare with. Sampled with the weights the
// learner holds now: the sampling log-probs are π_old for off-policy
// updates (the weights TRL would re-score at generation time). Sampled
// with older weights (async): π_old is the learner's now, scored once here
// when the generation has several updates (the first one's current
// log-probs otherwise), and the tokens are weighted by π_old / π_sampling;
// with the correction off, the clip is taken against π_sampling.
Status choose_old_policy(Run& run, RLGeneration& gen, LearnerOptions& lo) {
  const RLPlan& plan = run.job.plan;
  const GRPOConfig& g = run.config.grpo;
  if (gen.policy_version == run.state.global_step || !g.importance_sampling_correction) {
    lo.use_sampling_logprobs = plan.off_policy || gen.policy_version != run.state.global_step;
    return Status();
  }
  lo.sampling_correction = SamplingCorrectionOptions{.mode = g.importance_sampling_mode,
                                                     .clip_min = g.importance_sampling_clip_min,
                                                     .clip_max = g.importance_sampling_clip_max};
  if (plan.steps_per_generation == 1) return Status();
  std::vector<Sample*> rows;
  for (size_t i : gen.trained) rows.push_back(&gen.samples[i]);
  return fill_old_logprobs(run.policy, rows, lo);
}

// Several ranks: every rank must hold the same weights after each step (a
// rank that diverged would silently train another model).
Status check_same_weights(const Run& run) {
  if (!run.group) return Status();
  return run.group->check_same_tensors("the weights after step " + std::to_string(run.state.global_step),
                                       run.policy.parameters());
}

// Optimizer steps between each sample's weights and this update.
void add_staleness_metrics(std::map<std::string, double>& m, const std::vector<Sample>& batch, int64_t step) {
  double sum = 0, max = 0;
  for (const Sample& s : batch) {
    double lag = static_cast<double>(step - s.policy_version);
    sum += lag;
    max = std::max(max, lag);
  }
  m["staleness/mean"] = batch.empty() ? 0.0 : sum / static_cast<double>(batch.size());
  m["staleness/max"] = max;
}

// The generation's optimizer steps: μ passes, each split into updates_per_pass
// slices of the shuffled batch (TRL shuffles the generation batch too).
Status train_on(Run& run, RLGeneration& gen, std::map<std::string, double> gen_metrics, Clock::time_point t0,
                std::function<void(const std::map<std::string, double>&)> on_step) {
  const RLPlan& plan = run.job.plan;
  const GRPOConfig& g = run.config.grpo;
  std::vector<size_t> order = gen.trained;
  std::mt19937_64 rng(derive_seed(static_cast<uint64_t>(g.seed), run.generation, -1));
  std::shuffle(order.begin(), order.end(), rng);
  size_t slice = (order.size() + plan.updates_per_pass - 1) / plan.updates_per_pass;
  LearnerOptions lo;
  lo.loss = loss_options_from_config(g);
  lo.mask_truncated_completions = g.mask_truncated_completions;
  lo.routing_replay = g.routing_replay;
  lo.router_aux_loss_coef = g.router_aux_loss_coef;
  lo.temperature = g.temperature;
  lo.micro_batch_size = g.per_device_train_batch_size;
  lo.max_grad_norm = g.max_grad_norm;
  lo.group = run.group.get();
  lo.teacher = run.teacher ? &*run.teacher : nullptr;
  R1_RETURN_IF_ERROR(choose_old_policy(run, gen, lo));
  run.state.epoch = gen.epoch_after;
  for (int64_t pass = 0; pass < g.num_iterations; ++pass) {
    for (size_t begin = 0; begin < order.size(); begin += slice) {
      if (run.state.global_step >= plan.total_steps) return Status();
      auto t_update = Clock::now();
      std::vector<size_t> rows(order.begin() + begin, order.begin() + std::min(order.size(), begin + slice));
      lo.learning_rate = lr_at(run.schedule, run.state.global_step);
      std::vector<Sample> batch = learner_batch(gen, rows);
      std::map<std::string, double> m = gen_metrics;
      add_staleness_metrics(m, batch, run.state.global_step);
      R1_ASSIGN_OR_RETURN(LearnerStepStats stats, learner_step(run.policy, run.reference ? &*run.reference : nullptr,
                                                               *run.optimizer, batch, lo));
      for (size_t r : stats.masked_rows) gen.samples[rows[r]].discard_reason = kDiscardIsMasked;
      ++run.state.global_step;
      if (run.reference && g.sync_ref_model && run.state.global_step % g.ref_model_sync_steps == 0)
        sync_reference(run);
      if (g.ddp.check_weights) R1_RETURN_IF_ERROR(check_same_weights(run));
      add_update_metrics(m, stats, lo.learning_rate, seconds_since(t_update));
      if (run.group) m.merge(collective_metrics(run.group->totals(), run.logged_totals));
      m["step_time"] = seconds_since(t0);  // a generation's first step carries its sampling time (or wait)
      t0 = Clock::now();
      R1_RETURN_IF_ERROR(log_step(run, m));
      on_step(m);
    }
  }
  return Status();
}

// ---------------------------------------------------------------- set-up

// The `device` and `dtype` keys; "auto" dtype is bf16, as TRL's bf16=True.
// Each rank takes the GPU of its local rank ("auto" and "cuda").
Result<LoadOptions> load_options(const RLConfig& c, bool trainable, const ProcessInfo& process) {
  return resolve_load_options(c.grpo.compute, at::kBFloat16, trainable, process.local_rank);
}

Status check_prompts(const Run& run) {
  const ModelConfig& mc = run.policy.config();
  for (size_t i = 0; i < run.job.prompts.size(); ++i)
    R1_RETURN_IF_ERROR(mc.check_token_ids(run.job.prompts.ids[i], run.job.prompts.examples[i].where));
  int64_t need = run.config.grpo.max_prompt_length + run.config.grpo.max_completion_length;
  if (need > mc.max_position_embeddings)
    return Status::error("max_prompt_length + max_completion_length (" + std::to_string(need) +
                         ") exceeds the model's max_position_embeddings (" +
                         std::to_string(mc.max_position_embeddings) + ")");
  return Status();
}

Status load_reference(Run& run, const std::string& checkpoint) {
  const RLConfig& c = run.config;
  if (c.grpo.beta == 0) return Status();
  std::string moved = checkpoint.empty() ? "" : checkpoint + "/" + kRefModelFile;
  if (!moved.empty() && std::filesystem::exists(moved)) {
    R1_ASSIGN_OR_RETURN(SafetensorsFile file, load_safetensors(moved));
    R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(c, false, run.process));
    R1_ASSIGN_OR_RETURN(Transformer ref, Transformer::from_tensors(run.policy.config(), std::move(file.tensors), load));
    run.reference = std::move(ref);
    return Status();
  }
  R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(c, false, run.process));
  R1_ASSIGN_OR_RETURN(Transformer ref, Transformer::load(c.model_name_or_path, load));
  run.reference = std::move(ref);
  return Status();
}

// On-policy distillation's teacher, beside the policy, with its vocabulary.
Status load_teacher(Run& run) {
  const std::string& dir = run.config.grpo.teacher_model_name_or_path;
  if (dir.empty()) return Status();
  R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(run.config, false, run.process));
  R1_ASSIGN_OR_RETURN(Transformer teacher, Transformer::load(dir, load));
  R1_ASSIGN_OR_RETURN(Tokenizer teacher_tok, Tokenizer::load(dir));
  R1_RETURN_IF_ERROR(check_same_vocabulary(run.policy, run.tokenizer, teacher, teacher_tok, dir));
  run.teacher = std::move(teacher);
  return Status();
}

Status open_store(Run& run, bool resumed) {
  const RLConfig& c = run.config;
  const std::string path = c.output_dir + "/rollouts.db";
  bool existed = std::filesystem::exists(path);
  R1_ASSIGN_OR_RETURN(run.store, RolloutStore::open(path));
  // Rollouts logged after the checkpoint are about to be sampled again (on a
  // fresh start: everything a run killed before its first checkpoint left).
  if (existed) {
    R1_ASSIGN_OR_RETURN(int64_t dropped, run.store->discard_after_step(run.state.global_step));
    if (dropped > 0 && run.log)
      std::fprintf(run.log, "rollouts.db: dropped %lld rollouts logged after step %lld\n", (long long)dropped,
                   (long long)run.state.global_step);
  }
  if (resumed) return Status();
  RunInfo info;
  std::string name = c.run_name.empty() ? std::filesystem::path(c.output_dir).lexically_normal().filename().string()
                                        : c.run_name;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  info.run_id = name + "-" + std::to_string(static_cast<int64_t>(t));
  info.name = name;
  info.config_json = c.to_json();
  info.created_at = stamp;
  info.model_path = c.model_name_or_path;
  info.dataset = c.dataset;
  return run.store->write_run_info(info);
}

// rl_config.json, rollouts.db and metrics.jsonl, on the process that writes them.
Status open_run_folder(Run& run, bool resumed) {
  const RLConfig& c = run.config;
  R1_RETURN_IF_ERROR(make_dirs(c.output_dir));
  R1_RETURN_IF_ERROR(write_file_atomic(c.output_dir + "/rl_config.json", c.to_json() + "\n"));
  R1_RETURN_IF_ERROR(open_store(run, resumed));
  R1_ASSIGN_OR_RETURN(MetricsLog metrics, MetricsLog::open(c.output_dir, run.state, c.grpo.report_to));
  run.metrics = std::move(metrics);
  return Status();
}

// Several ranks: what they do not support yet is refused before they meet.
Status check_data_parallel(const RLConfig& c, const ProcessInfo& process) {
  if (process.world_size == 1) return Status();
  std::string ranks = "WORLD_SIZE=" + std::to_string(process.world_size) + " (" + process.launcher + "): ";
  if (!c.rollout.workers.empty())
    return Status::error(ranks + "rollout_workers with several ranks is not supported yet; drop one or the other");
  if (c.grpo.async_generation)
    return Status::error(ranks + "async_generation with several ranks is not supported yet; drop one or the other");
  return Status();
}

Result<std::unique_ptr<Run>> start_run(const RLConfig& c, bool resume, std::FILE* log, const ProcessInfo& process) {
  R1_RETURN_IF_ERROR(check_data_parallel(c, process));
  R1_ASSIGN_OR_RETURN(std::string last, find_last_checkpoint(c.output_dir));
  if (!resume && !last.empty())
    return Status::error(c.output_dir + " already holds checkpoints (" + last +
                         "); pass --resume to continue, or choose another output_dir");
  if (resume && last.empty() && log) std::fprintf(log, "no checkpoint in %s: starting from the beginning\n",
                                                  c.output_dir.c_str());
  R1_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(c.model_name_or_path));
  R1_ASSIGN_OR_RETURN(RLJob job, load_rl_job(c, tok));
  R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(c, true, process));
  R1_ASSIGN_OR_RETURN(Transformer policy, Transformer::load(last.empty() ? c.model_name_or_path : last, load));
  R1_RETURN_IF_ERROR(check_moe_keys(policy.config(), c.grpo.routing_replay, c.grpo.router_aux_loss_coef));
  policy.set_gradient_checkpointing(c.grpo.gradient_checkpointing);
  auto run = std::make_unique<Run>(c, log, std::move(tok), std::move(job), std::move(policy));
  run->process = process;
  if (process.world_size > 1) {
    R1_ASSIGN_OR_RETURN(run->group, ProcessGroup::join(process, c.grpo.ddp, run->policy.device()));
    if (log) std::fprintf(log, "%s\n", run->group->describe().c_str());
    // A rank that sees other files (no shared output_dir) would train from elsewhere.
    R1_RETURN_IF_ERROR(run->group->check_same("the checkpoint to start from ('" + last + "')", last));
    run->logged_totals = run->group->totals();  // the steps' traffic from here on
  }
  R1_RETURN_IF_ERROR(check_prompts(*run));
  AdamWOptions ao{c.grpo.adam_beta1, c.grpo.adam_beta2, c.grpo.adam_epsilon, c.grpo.weight_decay};
  run->optimizer =
      std::make_unique<AdamW>(run->policy, with_zero_stage(ao, c.grpo.ddp.zero_stage, run->policy, run->group.get()));
  run->state.seed = static_cast<uint64_t>(c.grpo.seed);
  if (last.empty()) {
    R1_ASSIGN_OR_RETURN(BatchSampler s, BatchSampler::create(run->job.dataset.examples.size(), run->state.seed));
    run->sampler = std::move(s);
    run->trained_cursor = run->sampler->state_json();
  } else {
    R1_RETURN_IF_ERROR(load_optimizer_state(last, *run->optimizer));
    R1_ASSIGN_OR_RETURN(run->state, load_trainer_state(last));
    R1_RETURN_IF_ERROR(restore_cursor(*run, last));
    if (log) std::fprintf(log, "resuming from %s (step %lld)\n", last.c_str(), (long long)run->state.global_step);
  }
  R1_RETURN_IF_ERROR(load_reference(*run, last));
  R1_RETURN_IF_ERROR(load_teacher(*run));
  const RLPlan& plan = run->job.plan;
  R1_ASSIGN_OR_RETURN(run->schedule.type, parse_lr_scheduler_type(c.grpo.lr_scheduler_type));
  run->schedule.learning_rate = c.grpo.learning_rate;
  run->schedule.total_steps = plan.total_steps;
  double w = c.grpo.warmup_steps;
  run->schedule.warmup_steps = w < 1 ? warmup_steps_for(0, w, plan.total_steps) : static_cast<int64_t>(w);
  if (process.writes_run_folder()) R1_RETURN_IF_ERROR(open_run_folder(*run, !last.empty()));
  if (log)
    std::fprintf(log,
                 "%zu prompts, %lld per generation x %lld samples, %lld optimizer steps per generation, %lld steps\n",
                 run->job.dataset.examples.size(), (long long)plan.prompts_per_generation,
                 (long long)plan.num_generations, (long long)plan.steps_per_generation, (long long)plan.total_steps);
  return run;
}

// With the generations sampled ahead (async): the weights each is sampled
// with, so that a resumed run samples exactly them again.
Status save_checkpoint(Run& run, const std::deque<PendingGeneration>& in_flight) {
  R1_RETURN_IF_ERROR(check_same_weights(run));
  R1_ASSIGN_OR_RETURN(OptimizerCheckpoint optimizer, checkpoint_optimizer_state(run.group.get(), *run.optimizer));
  if (!run.process.writes_run_folder()) return Status();
  const RLConfig& c = run.config;
  R1_RETURN_IF_ERROR(run.store->flush());  // the checkpoint never runs ahead of the rollouts it trained on
  run.state.data_cursor = cursor_json(run, in_flight);
  run.state.extra_tensor_files.clear();
  if (run.reference && c.grpo.sync_ref_model) run.state.extra_tensor_files[kRefModelFile] = run.reference->tensors();
  for (const PendingGeneration& p : in_flight)
    run.state.extra_tensor_files[in_flight_file(p.index)] = p.weights->tensors();
  CheckpointOptions options{c.output_dir, c.grpo.save_total_limit.value_or(0), c.model_name_or_path};
  R1_ASSIGN_OR_RETURN(std::string dir, save_training_checkpoint(options, run.policy, optimizer, run.state));
  if (run.log) std::fprintf(run.log, "saved %s\n", dir.c_str());
  return Status();
}

// The sampling side of a run. Synchronous: a generation is sampled when the
// learner first waits for it, with the policy itself. async_generation:
// each is sampled on one background thread, in order, with a snapshot of
// the weights at launch, while the learner trains the earlier ones.
class GenerationSource {
 public:
  GenerationSource(Run& run, const RolloutWorkerFactory& make_worker, std::unique_ptr<RolloutWorker> remote)
      : run_(run), make_worker_(make_worker), remote_(std::move(remote)) {
    if (run.config.grpo.async_generation) executor_.emplace();
    if (!executor_ && !remote_) local_ = make_worker_(run_.policy, run_.tokenizer);
  }
  ~GenerationSource() { executor_.reset(); }  // waits for the generation being sampled

  // Queues generation `index`, sampled with the weights of global step
  // `version`: `weights` when given (a resumed run's in-flight generation),
  // otherwise the policy as it is now.
  Status launch(int64_t index, int64_t version, std::shared_ptr<const Transformer> weights = nullptr) {
    if (executor_ && !weights) {
      R1_ASSIGN_OR_RETURN(weights, snapshot(run_.policy));
    }
    PendingGeneration p{.index = index, .policy_version = version, .weights = weights};
    auto task = [this, index, version, weights] {
      return sample(index, version, weights ? *weights : run_.policy);
    };
    p.result = executor_ ? executor_->submit(task) : std::async(std::launch::deferred, task);
    pending.push_back(std::move(p));
    return Status();
  }

  std::deque<PendingGeneration> pending;  // launched, not yet trained, in order

 private:
  static Result<std::shared_ptr<const Transformer>> snapshot(const Transformer& policy) {
    at::NoGradGuard no_grad;
    TensorMap copy;
    for (const auto& [name, t] : policy.tensors()) copy.emplace(name, t.detach().clone());
    R1_ASSIGN_OR_RETURN(Transformer weights,
                        Transformer::from_tensors(policy.config(), std::move(copy),
                                                  {.dtype = policy.dtype(), .device = policy.device()}));
    return std::make_shared<const Transformer>(std::move(weights));
  }

  Result<RLGeneration> sample(int64_t index, int64_t version, const Transformer& weights) {
    if (remote_) {
      R1_RETURN_IF_ERROR(remote_->sync_policy(weights, version));
      return generate(run_, *remote_, index, version);
    }
    if (local_) return generate(run_, *local_, index, version);
    std::unique_ptr<RolloutWorker> worker = make_worker_(weights, run_.tokenizer);
    return generate(run_, *worker, index, version);
  }

  Run& run_;
  const RolloutWorkerFactory& make_worker_;
  std::unique_ptr<RolloutWorker> remote_;  // a pool of `r1 rollout serve` workers
  std::unique_ptr<RolloutWorker> local_;   // sync in-process: one worker over the policy
  std::optional<SerialExecutor> executor_;
};

}  // namespace

std::unique_ptr<RolloutWorker> local_rollout_worker(const Transformer& policy, const Tokenizer& tokenizer) {
  return std::make_unique<LocalRolloutWorker>(policy, &tokenizer);
}

Result<RLRunResult> run_rl(const RLConfig& c, bool resume, std::FILE* log, const RolloutWorkerFactory& make_worker) {
  R1_ASSIGN_OR_RETURN(ProcessInfo process, process_info_from_env());
  if (!process.writes_run_folder()) log = nullptr;  // rank 0 reports for all; errors still reach the caller
  R1_ASSIGN_OR_RETURN(std::unique_ptr<Run> run_ptr, start_run(c, resume, log, process));
  Run& run = *run_ptr;
  std::unique_ptr<RolloutWorker> remote;
  if (!c.rollout.workers.empty()) {
    R1_ASSIGN_OR_RETURN(remote, remote_rollout_pool(c.rollout, log));
  }
  GenerationSource source(run, make_worker, std::move(remote));
  const RLPlan& plan = run.job.plan;
  const int64_t total = plan.total_steps;
  const int64_t lag = c.grpo.generation_lag(plan.steps_per_generation);
  const int64_t generations = (total + plan.steps_per_generation - 1) / plan.steps_per_generation;
  int64_t next = run.generation;
  for (auto& [version, weights] : run.resumed_in_flight) R1_RETURN_IF_ERROR(source.launch(next++, version, weights));
  run.resumed_in_flight.clear();
  RLRunResult result;
  int64_t session_steps = 0, first_step = run.state.global_step;
  auto session_start = Clock::now();
  while (run.state.global_step < total) {
    auto t0 = Clock::now();
    // Generation g + lag is sampled with the weights of this step while the
    // learner trains generation g (lag 0: sampled now, then trained).
    while (next <= run.generation + lag && next < generations)
      R1_RETURN_IF_ERROR(source.launch(next++, run.state.global_step));
    PendingGeneration pending = std::move(source.pending.front());
    source.pending.pop_front();
    R1_ASSIGN_OR_RETURN(RLGeneration gen, pending.result.get());
    run.num_tokens += gen.stats.prompt_tokens + gen.stats.completion_tokens;
    run.trained_cursor = gen.cursor_after;
    std::map<std::string, double> gen_metrics = generation_metrics(gen, run.job.reward->component_names(),
                                                                   c.grpo.num_generations);
    gen_metrics["num_tokens"] = static_cast<double>(run.num_tokens);
    result.last_reward = gen_metrics["reward"];
    int64_t steps_before = run.state.global_step;
    auto on_step = [&](const std::map<std::string, double>& m) {
      ++session_steps;
      int64_t step = run.state.global_step;
      if (step % c.grpo.logging_steps == 0 || step == total || step == first_step + 1) {
        double eta = seconds_since(session_start) / session_steps * (total - step);
        print_progress(run, m, eta);
      }
    };
    R1_RETURN_IF_ERROR(train_on(run, gen, gen_metrics, t0, on_step));
    // Stored once trained: the updates may mask samples (discard_reason).
    if (run.process.writes_run_folder()) R1_RETURN_IF_ERROR(run.store->append(gen.samples));
    ++run.generation;
    bool crossed =
        c.grpo.save_steps > 0 && run.state.global_step / c.grpo.save_steps > steps_before / c.grpo.save_steps;
    if (crossed && run.state.global_step < total) R1_RETURN_IF_ERROR(save_checkpoint(run, source.pending));
  }
  R1_RETURN_IF_ERROR(save_checkpoint(run, source.pending));
  result.global_step = run.state.global_step;
  result.model_dir = c.output_dir + "/model";
  if (!run.process.writes_run_folder()) return result;
  R1_RETURN_IF_ERROR(run.store->close());
  R1_RETURN_IF_ERROR(run.policy.save(result.model_dir, c.model_name_or_path));
  if (log) std::fprintf(log, "saved final model to %s\n", result.model_dir.c_str());
  return result;
}

}  // namespace r1
