#include "sft/sft_trainer.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "model/chat_template.h"
#include "model/device.h"
#include "sft/sft_loss.h"
#include "train/lr_schedule.h"
#include "train/process_group.h"
#include "train/optimizer.h"
#include "train/run_log.h"
#include "train/train_state.h"
#include "util/file.h"
#include "util/json.h"
#include "util/process.h"

namespace r1 {

Result<double> accumulate_gradients(const Transformer& model, const std::vector<SftBatch>& micro_batches,
                                    const MicroBatchOptions& options) {
  int64_t tokens = 0;
  for (const auto& b : micro_batches) tokens += b.target_tokens;
  double denom = static_cast<double>(std::max<int64_t>(1, tokens));
  // The loss stays on the model's device until the step is done: one host
  // read per step, not one per micro-batch.
  auto run = [&](int64_t m) {
    at::Tensor loss = sft_loss_sum(model, micro_batches[m]) / denom;
    return MicroBatchLoss{.loss = loss, .stats = loss.detach().reshape({1})};
  };
  R1_ASSIGN_OR_RETURN(at::Tensor total, accumulate_micro_batches(model.parameters(),
                                                                 static_cast<int64_t>(micro_batches.size()), 1, run,
                                                                 options));
  return total[0].item<double>();
}

EvalResult evaluate(const Transformer& model, const std::vector<SftRow>& rows, int64_t batch_size,
                    const DistillOptions& distill) {
  at::NoGradGuard no_grad;
  double sum = 0.0, kl = 0.0;
  EvalResult r;
  for (size_t i = 0; i < rows.size(); i += batch_size) {
    std::vector<const SftRow*> part;
    for (size_t j = i; j < std::min(rows.size(), i + batch_size); ++j) part.push_back(&rows[j]);
    SftBatch b = collate(part, model.device());
    if (distill.teacher) {
      DistillLossSums sums = distill_loss_sums(model, *distill.teacher, b, distill.temperature);
      sum += sums.ce.item<double>();
      kl += sums.kl.item<double>();
    } else {
      sum += sft_loss_sum(model, b).item<double>();
    }
    r.tokens += b.target_tokens;
  }
  r.loss = sum / static_cast<double>(std::max<int64_t>(1, r.tokens));
  if (distill.teacher) r.kl = kl / static_cast<double>(std::max<int64_t>(1, r.tokens));
  return r;
}

std::vector<int64_t> epoch_order(int64_t num_rows, int64_t seed, int64_t epoch) {
  std::vector<int64_t> order(num_rows);
  for (int64_t i = 0; i < num_rows; ++i) order[i] = i;
  std::mt19937_64 rng(static_cast<uint64_t>(seed + epoch));
  for (int64_t i = num_rows - 1; i > 0; --i) std::swap(order[i], order[rng() % static_cast<uint64_t>(i + 1)]);
  return order;
}

namespace {

Result<SftDataOptions> data_options(const SFTConfig& c, const Tokenizer& tok, const ModelConfig& model) {
  SftDataOptions o;
  if (c.chat_template == "auto") {
    R1_ASSIGN_OR_RETURN(o.chat_template, detect_chat_template(tok));
  } else if (c.chat_template != "none") {
    R1_ASSIGN_OR_RETURN(o.chat_template, parse_chat_template(c.chat_template));
  }
  o.text_field = c.dataset_text_field;
  o.completion_only_loss = c.completion_only_loss;
  o.max_length = c.max_length;
  if (c.add_eos) {
    if (model.eos_token_ids.empty())
      return Status::error("add_eos is set but the model's config.json has no eos_token_id");
    o.eos_id = model.eos_token_ids.front();
  }
  return o;
}

Result<std::vector<SftRow>> load_rows(const SFTConfig& c, const std::string& file, const Tokenizer& tok,
                                      const SftDataOptions& o, std::FILE* log) {
  int64_t dropped = 0;
  R1_ASSIGN_OR_RETURN(auto samples, load_sft_samples(file, tok, o, &dropped));
  auto rows = make_rows(samples, c.packing, c.max_length);
  if (log)
    std::fprintf(log, "%s: %zu samples -> %zu rows%s, %lld dropped (no target token)\n", file.c_str(),
                 samples.size(), rows.size(), c.packing ? " (packed)" : "", static_cast<long long>(dropped));
  return rows;
}

// The `device` and `dtype` keys; "auto" dtype is float32 for SFT.
// Each rank takes the GPU of its local rank ("auto" and "cuda").
Result<LoadOptions> load_options(const SFTConfig& c, bool trainable, int64_t local_rank = 0) {
  return resolve_load_options(c.compute, at::kFloat, trainable, local_rank);
}

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
  const SFTConfig& config;
  std::FILE* log;
  Transformer model;
  std::unique_ptr<AdamW> optimizer;
  TrainerState state;
  Cursor cursor;
  std::vector<SftRow> train_rows, eval_rows;
  LrSchedule schedule;
  int64_t steps_per_epoch = 1;
  std::optional<MetricsLog> metrics;   // opened only by the process that writes the run folder
  std::optional<Transformer> teacher;  // loaded only when distill_alpha > 0
  ProcessInfo process;
  std::unique_ptr<ProcessGroup> group;  // several ranks: they split each step's micro-batches
};

DistillOptions distill_options(const Run& run) {
  if (!run.teacher) return {};
  return {&*run.teacher, run.config.distill_alpha, run.config.distill_temperature};
}

// The teacher for logit distillation, checked against the student; nullopt
// when distill_alpha is 0.
Result<std::optional<Transformer>> maybe_load_teacher(const SFTConfig& c, const Transformer& student,
                                                      const Tokenizer& student_tok) {
  if (c.distill_alpha == 0) return std::optional<Transformer>();
  R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(c, false));
  load.device = student.device();  // beside the student (a rank's own GPU)
  R1_ASSIGN_OR_RETURN(Transformer teacher, load_teacher(c.teacher_model_name_or_path, load, student, student_tok));
  return std::optional<Transformer>(std::move(teacher));
}

Status record(Run& run, const std::string& json) {
  return run.process.writes_run_folder() ? run.metrics->append(run.state, json) : Status();
}

Result<EvalResult> log_eval(Run& run) {
  EvalResult e = evaluate(run.model, run.eval_rows, run.config.per_device_eval_batch_size, distill_options(run));
  if (run.log && e.kl)
    std::fprintf(run.log, "step %lld | eval_loss %.4f | eval_kl %.4f over %lld tokens\n",
                 (long long)run.state.global_step, e.loss, *e.kl, (long long)e.tokens);
  else if (run.log)
    std::fprintf(run.log, "step %lld | eval_loss %.4f over %lld tokens\n", (long long)run.state.global_step, e.loss,
                 (long long)e.tokens);
  JsonWriter w;
  w.begin_object().key("step").value(run.state.global_step).key("epoch").value(run.state.epoch);
  w.key("eval_loss").value(e.loss).key("eval_tokens").value(e.tokens);
  if (e.kl) w.key("eval_kl").value(*e.kl);
  w.end_object();
  R1_RETURN_IF_ERROR(record(run, w.str()));
  return e;
}

std::vector<SftBatch> step_batches(const Run& run, const std::vector<int64_t>& order) {
  const SFTConfig& c = run.config;
  int64_t R = static_cast<int64_t>(run.train_rows.size());
  int64_t first_row = run.cursor.step_in_epoch * c.gradient_accumulation_steps * c.per_device_train_batch_size;
  std::vector<SftBatch> batches;
  for (int64_t m = 0; m < c.gradient_accumulation_steps; ++m) {
    int64_t begin = first_row + m * c.per_device_train_batch_size;
    if (begin >= R) break;
    std::vector<const SftRow*> rows;
    for (int64_t i = begin; i < std::min(R, begin + c.per_device_train_batch_size); ++i)
      rows.push_back(&run.train_rows[order[i]]);
    batches.push_back(collate(rows, run.model.device()));
  }
  return batches;
}

Result<Run> start_run(const SFTConfig& c, bool resume, std::FILE* log, const ProcessInfo& process) {
  R1_ASSIGN_OR_RETURN(std::string last, find_last_checkpoint(c.output_dir));
  if (resume && last.empty()) return Status::error(c.output_dir + ": no complete checkpoint to resume from");
  if (!resume && !last.empty())
    return Status::error(c.output_dir + " already holds checkpoints (" + last +
                         "); pass --resume to continue, or choose another output_dir");
  std::string weights = resume ? last : c.model_name_or_path;
  R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(c, true, process.local_rank));
  R1_ASSIGN_OR_RETURN(Transformer model, Transformer::load(weights, load));
  model.set_gradient_checkpointing(c.gradient_checkpointing);
  Run run{c, log, std::move(model), nullptr, {}, {}, {}, {}, {}, 1, {}, {}, process, nullptr};
  run.cursor.world_size = process.world_size;
  if (process.world_size > 1) {
    R1_ASSIGN_OR_RETURN(run.group, ProcessGroup::join(process, c.ddp_timeout));
    // A rank that sees other files (no shared output_dir) would train from elsewhere.
    R1_RETURN_IF_ERROR(run.group->check_same("the checkpoint to start from ('" + last + "')", resume ? last : ""));
  }
  AdamWOptions ao{c.adam_beta1, c.adam_beta2, c.adam_epsilon, c.weight_decay};
  run.optimizer = std::make_unique<AdamW>(run.model, ao);
  run.state.seed = static_cast<uint64_t>(c.seed);
  if (resume) {
    R1_RETURN_IF_ERROR(load_optimizer_state(last, *run.optimizer));
    R1_ASSIGN_OR_RETURN(run.state, load_trainer_state(last));
    R1_ASSIGN_OR_RETURN(run.cursor, parse_cursor(run.state.data_cursor, last + "/trainer_state.json"));
    R1_RETURN_IF_ERROR(check_resume_world_size(run.cursor.world_size, process.world_size, last));
    if (log) std::fprintf(log, "resuming from %s (step %lld)\n", last.c_str(), (long long)run.state.global_step);
  }
  R1_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(c.model_name_or_path));
  R1_ASSIGN_OR_RETURN(SftDataOptions data, data_options(c, tok, run.model.config()));
  R1_ASSIGN_OR_RETURN(run.teacher, maybe_load_teacher(c, run.model, tok));
  if (log && run.teacher)
    std::fprintf(log, "distilling from %s: loss = %.3g * CE + %.3g * T^2 * KL at T = %.3g\n",
                 c.teacher_model_name_or_path.c_str(), 1.0 - c.distill_alpha, c.distill_alpha, c.distill_temperature);
  else if (log && !c.teacher_model_name_or_path.empty())
    std::fprintf(log, "distill_alpha is 0: plain SFT, the teacher is not loaded\n");
  R1_ASSIGN_OR_RETURN(run.train_rows, load_rows(c, c.train_file, tok, data, log));
  if (!c.eval_file.empty()) {
    R1_ASSIGN_OR_RETURN(run.eval_rows, load_rows(c, c.eval_file, tok, data, log));
  }
  int64_t R = static_cast<int64_t>(run.train_rows.size());
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
  R1_RETURN_IF_ERROR(write_file_atomic(c.output_dir + "/sft_config.json", sft_config_json(c) + "\n"));
  R1_ASSIGN_OR_RETURN(MetricsLog metrics, MetricsLog::open(c.output_dir, run.state, c.report_to));
  run.metrics = std::move(metrics);
  return run;
}

}  // namespace

Result<SftRunResult> run_sft(const SFTConfig& c, bool resume, std::FILE* log) {
  R1_ASSIGN_OR_RETURN(ProcessInfo process, process_info_from_env());
  if (!process.writes_run_folder()) log = nullptr;  // rank 0 reports for all; errors still reach the caller
  R1_ASSIGN_OR_RETURN(Run run, start_run(c, resume, log, process));
  const MicroBatchOptions split{.group = run.group.get()};
  const int64_t total = run.schedule.total_steps;
  CheckpointOptions ckpt{c.output_dir, c.save_total_limit, c.model_name_or_path};
  std::vector<int64_t> order = epoch_order(run.train_rows.size(), c.seed, run.cursor.epoch);
  SftRunResult result;
  double window_loss = 0.0, window_tokens = 0.0, window_ce = 0.0, window_kl = 0.0;
  int64_t window_steps = 0, session_steps = 0;
  auto session_start = std::chrono::steady_clock::now(), window_start = session_start;
  while (run.state.global_step < total) {
    if (run.cursor.step_in_epoch >= run.steps_per_epoch) {
      run.cursor = {run.cursor.epoch + 1, 0, run.cursor.world_size};
      order = epoch_order(run.train_rows.size(), c.seed, run.cursor.epoch);
    }
    std::vector<SftBatch> batches = step_batches(run, order);
    double loss = 0.0;
    if (run.teacher) {
      R1_ASSIGN_OR_RETURN(DistillStepLoss d,
                          accumulate_distill_gradients(run.model, batches, distill_options(run), split));
      loss = d.loss;
      window_ce += d.ce;
      window_kl += d.kl;
    } else {
      R1_ASSIGN_OR_RETURN(loss, accumulate_gradients(run.model, batches, split));
    }
    double grad_norm = run.optimizer->clip_grad_norm(c.max_grad_norm);
    double lr = lr_at(run.schedule, run.state.global_step);
    run.optimizer->step(lr);
    ++run.state.global_step;
    ++run.cursor.step_in_epoch;
    run.state.epoch = run.cursor.epoch + static_cast<double>(run.cursor.step_in_epoch) / run.steps_per_epoch;
    run.state.data_cursor = cursor_json(run.cursor);
    result.last_loss = loss;
    window_loss += loss;
    ++window_steps;
    ++session_steps;
    for (const auto& b : batches) window_tokens += b.input_tokens;
    int64_t step = run.state.global_step;
    if (step % c.logging_steps == 0 || step == total) {
      auto now = std::chrono::steady_clock::now();
      double window_s = std::chrono::duration<double>(now - window_start).count();
      double session_s = std::chrono::duration<double>(now - session_start).count();
      double eta = session_s / session_steps * (total - step);
      char kd[64] = "";
      if (run.teacher)
        std::snprintf(kd, sizeof kd, " | ce %.4f | kl %.4f", window_ce / window_steps, window_kl / window_steps);
      if (log)
        std::fprintf(log, "step %lld/%lld | loss %.4f%s | lr %.3e | grad_norm %.4f | %.0f tok/s | ETA %s\n",
                     (long long)step, (long long)total, window_loss / window_steps, kd, lr, grad_norm,
                     window_tokens / std::max(window_s, 1e-9), format_duration(eta).c_str());
      JsonWriter w;
      w.begin_object().key("step").value(step).key("epoch").value(run.state.epoch);
      w.key("loss").value(window_loss / window_steps);
      if (run.teacher) w.key("ce").value(window_ce / window_steps).key("kl").value(window_kl / window_steps);
      w.key("learning_rate").value(lr);
      w.key("grad_norm").value(grad_norm).key("tokens_per_second").value(window_tokens / std::max(window_s, 1e-9));
      w.end_object();
      R1_RETURN_IF_ERROR(record(run, w.str()));
      window_loss = window_tokens = window_ce = window_kl = 0.0;
      window_steps = 0;
      window_start = now;
    }
    if (!run.eval_rows.empty() && c.eval_steps > 0 && step % c.eval_steps == 0 && step != total)
      R1_RETURN_IF_ERROR(log_eval(run).status());
    bool save = c.save_steps > 0 && step % c.save_steps == 0;
    if (save && run.group)
      R1_RETURN_IF_ERROR(run.group->check_same_tensors("the weights after step " + std::to_string(step),
                                                       run.model.parameters()));
    if (save && run.process.writes_run_folder()) {
      R1_ASSIGN_OR_RETURN(std::string dir, save_training_checkpoint(ckpt, run.model, *run.optimizer, run.state));
      if (log) std::fprintf(log, "saved %s\n", dir.c_str());
    }
  }
  if (!run.eval_rows.empty()) {
    R1_ASSIGN_OR_RETURN(EvalResult e, log_eval(run));
    result.eval_loss = e.loss;
  }
  result.global_step = run.state.global_step;
  result.model_dir = c.output_dir + "/model";
  if (run.group)
    R1_RETURN_IF_ERROR(run.group->check_same_tensors("the final weights", run.model.parameters()));
  if (!run.process.writes_run_folder()) return result;
  R1_RETURN_IF_ERROR(run.model.save(result.model_dir, c.model_name_or_path));
  if (log) std::fprintf(log, "saved final model to %s\n", result.model_dir.c_str());
  return result;
}

Result<EvalResult> evaluate_file(const SFTConfig& c, const std::string& model_dir, const std::string& file) {
  R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(c, false));
  R1_ASSIGN_OR_RETURN(Transformer model, Transformer::load(model_dir, load));
  R1_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(model_dir));
  R1_ASSIGN_OR_RETURN(SftDataOptions data, data_options(c, tok, model.config()));
  R1_ASSIGN_OR_RETURN(auto rows, load_rows(c, file, tok, data, nullptr));
  R1_ASSIGN_OR_RETURN(std::optional<Transformer> teacher, maybe_load_teacher(c, model, tok));
  DistillOptions distill;
  if (teacher) distill = {&*teacher, c.distill_alpha, c.distill_temperature};
  return evaluate(model, rows, c.per_device_eval_batch_size, distill);
}

}  // namespace r1
