#include "train/trainer_loop.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "model/device.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"
#include "train/process_group.h"
#include "train/run_log.h"
#include "train/train_state.h"
#include "train/zero.h"
#include "util/file.h"
#include "util/json.h"
#include "util/process.h"

namespace r1 {

std::vector<int64_t> epoch_order(int64_t num_rows, int64_t seed, int64_t epoch) {
  std::vector<int64_t> order(num_rows);
  for (int64_t i = 0; i < num_rows; ++i) order[i] = i;
  std::mt19937_64 rng(static_cast<uint64_t>(seed + epoch));
  for (int64_t i = num_rows - 1; i > 0; --i) std::swap(order[i], order[rng() % static_cast<uint64_t>(i + 1)]);
  return order;
}

namespace {

// Where the run stands in its data: the optimizer step within the epoch;
// and the number of ranks the run has, which a resume must match.
struct Cursor {
  int64_t epoch = 0, step_in_epoch = 0, world_size = 1;
};

std::string cursor_json(const Cursor& c) {
  JsonWriter w;
  w.begin_object().key("epoch").value(c.epoch).key("step_in_epoch").value(c.step_in_epoch);
  w.key("world_size").value(c.world_size).end_object();
  return w.str();
}

Result<Cursor> parse_cursor(const std::string& json, const std::string& where) {
  R1_ASSIGN_OR_RETURN(auto doc, parse_json(json, where));
  Cursor c;
  R1_ASSIGN_OR_RETURN(c.epoch, json_int(doc, "epoch", where + " data_cursor"));
  R1_ASSIGN_OR_RETURN(c.step_in_epoch, json_int(doc, "step_in_epoch", where + " data_cursor"));
  // Checkpoints from before data parallelism hold no world size: one process wrote them.
  if (doc.HasMember("world_size")) {
    R1_ASSIGN_OR_RETURN(c.world_size, json_int(doc, "world_size", where + " data_cursor"));
  }
  return c;
}

// Everything a run carries from step to step.
struct Run {
  const TrainingArguments& args;
  std::FILE* log;
  Transformer model;
  std::unique_ptr<AdamW> optimizer{};
  TrainerState state{};
  Cursor cursor{};
  std::unique_ptr<TrainingObjective> objective{};
  LrSchedule schedule{};
  int64_t steps_per_epoch = 1;
  std::optional<MetricsLog> metrics{};  // opened only by the process that writes the run folder
  ProcessInfo process;
  std::unique_ptr<ProcessGroup> group{};  // several ranks: they split each step's micro-batches
  CollectiveTotals logged_totals{};       // group->totals() at the last logged step
};

Status record(Run& run, const std::string& json) {
  return run.process.writes_run_folder() ? run.metrics->append(run.state, json) : Status();
}

// "name value" pairs for a progress line: integers as integers.
std::string format_metrics(const Metrics& metrics) {
  std::string out;
  char buf[96];
  for (const auto& [name, value] : metrics) {
    if (value == std::floor(value) && std::abs(value) < 1e15)
      std::snprintf(buf, sizeof buf, " | %s %lld", name.c_str(), static_cast<long long>(value));
    else
      std::snprintf(buf, sizeof buf, " | %s %.4f", name.c_str(), value);
    out += buf;
  }
  return out;
}

Result<Metrics> log_eval(Run& run) {
  R1_ASSIGN_OR_RETURN(Metrics e, run.objective->evaluate(run.model));
  if (e.empty()) return e;
  if (run.log) std::fprintf(run.log, "step %lld%s\n", (long long)run.state.global_step, format_metrics(e).c_str());
  JsonWriter w;
  w.begin_object().key("step").value(run.state.global_step).key("epoch").value(run.state.epoch);
  for (const auto& [name, value] : e) w.key(name).value(value);
  w.end_object();
  R1_RETURN_IF_ERROR(record(run, w.str()));
  return e;
}

// Row indices of each micro-batch of the cursor's step.
std::vector<std::vector<int64_t>> step_rows(const Run& run, const std::vector<int64_t>& order) {
  const TrainingArguments& c = run.args;
  int64_t R = run.objective->num_rows();
  int64_t first_row = run.cursor.step_in_epoch * c.gradient_accumulation_steps * c.per_device_train_batch_size;
  std::vector<std::vector<int64_t>> batches;
  for (int64_t m = 0; m < c.gradient_accumulation_steps; ++m) {
    int64_t begin = first_row + m * c.per_device_train_batch_size;
    if (begin >= R) break;
    std::vector<int64_t> rows;
    for (int64_t i = begin; i < std::min(R, begin + c.per_device_train_batch_size); ++i) rows.push_back(order[i]);
    batches.push_back(std::move(rows));
  }
  return batches;
}

Result<Run> start_run(const TrainingArguments& c, const TrainerLoopOptions& options,
                      const ObjectiveFactory& make_objective, bool resume, std::FILE* log,
                      const ProcessInfo& process) {
  R1_ASSIGN_OR_RETURN(std::string last, find_last_checkpoint(c.output_dir));
  if (resume && last.empty()) return Status::error(c.output_dir + ": no complete checkpoint to resume from");
  if (!resume && !last.empty())
    return Status::error(c.output_dir + " already holds checkpoints (" + last +
                         "); pass --resume to continue, or choose another output_dir");
  std::string weights = resume ? last : c.model_name_or_path;
  // Each rank takes the GPU of its local rank ("auto" and "cuda").
  R1_ASSIGN_OR_RETURN(LoadOptions load,
                      resolve_load_options(c.compute, options.default_dtype, true, process.local_rank));
  R1_ASSIGN_OR_RETURN(Transformer model, Transformer::load(weights, load));
  if (options.prepare_model) {
    R1_ASSIGN_OR_RETURN(model, options.prepare_model(std::move(model)));
  }
  model.set_gradient_checkpointing(c.gradient_checkpointing);
  Run run{.args = c, .log = log, .model = std::move(model), .process = process};
  run.cursor.world_size = process.world_size;
  if (process.world_size > 1) {
    R1_ASSIGN_OR_RETURN(run.group, ProcessGroup::join(process, c.ddp, run.model.device()));
    if (log) std::fprintf(log, "%s\n", run.group->describe().c_str());
    // A rank that sees other files (no shared output_dir) would train from elsewhere.
    R1_RETURN_IF_ERROR(run.group->check_same("the checkpoint to start from ('" + last + "')", resume ? last : ""));
    run.logged_totals = run.group->totals();  // the steps' traffic from here on
  }
  AdamWOptions ao{c.adam_beta1, c.adam_beta2, c.adam_epsilon, c.weight_decay};
  run.optimizer = std::make_unique<AdamW>(run.model, with_zero_stage(ao, c.ddp.zero_stage, run.model, run.group.get()));
  run.state.seed = static_cast<uint64_t>(c.seed);
  if (resume) {
    R1_RETURN_IF_ERROR(load_optimizer_state(last, *run.optimizer));
    R1_ASSIGN_OR_RETURN(run.state, load_trainer_state(last));
    R1_ASSIGN_OR_RETURN(run.cursor, parse_cursor(run.state.data_cursor, last + "/trainer_state.json"));
    R1_RETURN_IF_ERROR(check_resume_world_size(run.cursor.world_size, process.world_size, last));
    if (log) std::fprintf(log, "resuming from %s (step %lld)\n", last.c_str(), (long long)run.state.global_step);
  }
  R1_ASSIGN_OR_RETURN(run.objective, make_objective(run.model, log));
  int64_t R = run.objective->num_rows();
  if (R == 0) return Status::error(c.train_file + ": no training rows");
  int64_t micro_per_epoch = (R + c.per_device_train_batch_size - 1) / c.per_device_train_batch_size;
  run.steps_per_epoch = (micro_per_epoch + c.gradient_accumulation_steps - 1) / c.gradient_accumulation_steps;
  int64_t total = c.max_steps > 0 ? c.max_steps
                                  : static_cast<int64_t>(std::ceil(c.num_train_epochs * run.steps_per_epoch));
  R1_ASSIGN_OR_RETURN(run.schedule.type, parse_lr_scheduler_type(c.lr_scheduler_type));
  run.schedule.learning_rate = c.learning_rate;
  run.schedule.total_steps = total;
  run.schedule.warmup_steps = warmup_steps_for(c.warmup_steps, c.warmup_ratio, total);
  run.schedule.min_lr_rate = c.min_lr_rate;

  if (!process.writes_run_folder()) return run;
  R1_RETURN_IF_ERROR(make_dirs(c.output_dir));
  R1_RETURN_IF_ERROR(write_file_atomic(c.output_dir + "/" + options.config_file_name, options.config_json + "\n"));
  R1_ASSIGN_OR_RETURN(MetricsLog metrics, MetricsLog::open(c.output_dir, run.state, c.report_to));
  run.metrics = std::move(metrics);
  return run;
}

// Sums of the logging window, averaged when a line is written.
struct Window {
  double loss = 0, tokens = 0;
  Metrics metrics;
  int64_t steps = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  void add(const StepOutcome& s) {
    loss += s.loss;
    tokens += s.tokens;
    if (metrics.empty()) {
      metrics = s.metrics;
    } else {
      for (size_t i = 0; i < metrics.size() && i < s.metrics.size(); ++i) metrics[i].second += s.metrics[i].second;
    }
    ++steps;
  }
};

Status log_step(Run& run, Window& w, double lr, double grad_norm, double session_s, int64_t session_steps) {
  const int64_t step = run.state.global_step, total = run.schedule.total_steps;
  double window_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w.start).count();
  double tokens_per_second = w.tokens / std::max(window_s, 1e-9);
  Metrics means = w.metrics;
  for (auto& m : means) m.second /= w.steps;
  if (run.log)
    std::fprintf(run.log, "step %lld/%lld | loss %.4f%s | lr %.3e | grad_norm %.4f | %.0f tok/s | ETA %s\n",
                 (long long)step, (long long)total, w.loss / w.steps, format_metrics(means).c_str(), lr, grad_norm,
                 tokens_per_second, format_duration(session_s / session_steps * (total - step)).c_str());
  JsonWriter j;
  j.begin_object().key("step").value(step).key("epoch").value(run.state.epoch);
  j.key("loss").value(w.loss / w.steps);
  for (const auto& [name, value] : means) j.key(name).value(value);
  j.key("learning_rate").value(lr);
  j.key("grad_norm").value(grad_norm).key("tokens_per_second").value(tokens_per_second);
  if (run.group)
    for (const auto& [name, value] : collective_metrics(run.group->totals(), run.logged_totals, w.steps))
      j.key(name).value(value);
  j.end_object();
  return record(run, j.str());
}

}  // namespace

Result<TrainerLoopResult> run_trainer_loop(const TrainingArguments& c, const TrainerLoopOptions& options,
                                           const ObjectiveFactory& make_objective, bool resume, std::FILE* log) {
  R1_ASSIGN_OR_RETURN(ProcessInfo process, process_info_from_env());
  if (!process.writes_run_folder()) log = nullptr;  // rank 0 reports for all; errors still reach the caller
  R1_ASSIGN_OR_RETURN(Run run, start_run(c, options, make_objective, resume, log, process));
  const MicroBatchOptions split{.group = run.group.get()};
  const int64_t total = run.schedule.total_steps;
  CheckpointOptions ckpt{c.output_dir, c.save_total_limit, c.model_name_or_path};
  std::vector<int64_t> order = epoch_order(run.objective->num_rows(), c.seed, run.cursor.epoch);
  TrainerLoopResult result;
  Window window;
  int64_t session_steps = 0;
  auto session_start = std::chrono::steady_clock::now();
  while (run.state.global_step < total) {
    if (run.cursor.step_in_epoch >= run.steps_per_epoch) {
      run.cursor = {run.cursor.epoch + 1, 0, run.cursor.world_size};
      order = epoch_order(run.objective->num_rows(), c.seed, run.cursor.epoch);
    }
    R1_ASSIGN_OR_RETURN(StepOutcome outcome, run.objective->accumulate(run.model, step_rows(run, order), split));
    double grad_norm = run.optimizer->clip_grad_norm(c.max_grad_norm);
    double lr = lr_at(run.schedule, run.state.global_step);
    R1_RETURN_IF_ERROR(step_optimizer(*run.optimizer, lr, run.group.get()));
    ++run.state.global_step;
    ++run.cursor.step_in_epoch;
    run.state.epoch = run.cursor.epoch + static_cast<double>(run.cursor.step_in_epoch) / run.steps_per_epoch;
    run.state.data_cursor = cursor_json(run.cursor);
    result.last_loss = outcome.loss;
    window.add(outcome);
    ++session_steps;
    int64_t step = run.state.global_step;
    bool save = c.save_steps > 0 && step % c.save_steps == 0;
    if (run.group && (save || c.ddp.check_weights))
      R1_RETURN_IF_ERROR(run.group->check_same_tensors("the weights after step " + std::to_string(step),
                                                       run.model.parameters()));
    if (step % c.logging_steps == 0 || step == total) {
      double session_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - session_start).count();
      R1_RETURN_IF_ERROR(log_step(run, window, lr, grad_norm, session_s, session_steps));
      window = Window();
    }
    if (c.eval_steps > 0 && step % c.eval_steps == 0 && step != total) R1_RETURN_IF_ERROR(log_eval(run).status());
    if (save) {
      R1_ASSIGN_OR_RETURN(OptimizerCheckpoint optimizer, checkpoint_optimizer_state(run.group.get(), *run.optimizer));
      if (run.process.writes_run_folder()) {
        R1_ASSIGN_OR_RETURN(std::string dir, save_training_checkpoint(ckpt, run.model, optimizer, run.state));
        if (log) std::fprintf(log, "saved %s\n", dir.c_str());
      }
    }
  }
  R1_ASSIGN_OR_RETURN(result.eval, log_eval(run));
  result.global_step = run.state.global_step;
  result.model_dir = c.output_dir + "/model";
  if (run.group)
    R1_RETURN_IF_ERROR(run.group->check_same_tensors("the final weights", run.model.parameters()));
  if (!run.process.writes_run_folder()) return result;
  R1_RETURN_IF_ERROR(run.model.save(result.model_dir, c.model_name_or_path));
  if (log) std::fprintf(log, "saved final model to %s\n", result.model_dir.c_str());
  return result;
}

}  // namespace r1
