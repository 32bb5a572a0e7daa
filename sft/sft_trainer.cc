#include "sft/sft_trainer.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <memory>

#include "model/chat_template.h"
#include "model/device.h"
#include "sft/sft_loss.h"

namespace r1 {

Result<double> accumulate_gradients(const Transformer& model, const std::vector<SftBatch>& micro_batches,
                                    const MicroBatchOptions& options) {
  int64_t tokens = 0;
  std::vector<int64_t> costs;
  for (const auto& b : micro_batches) tokens += b.target_tokens, costs.push_back(b.input_tokens);
  double denom = static_cast<double>(std::max<int64_t>(1, tokens));
  // The loss stays on the model's device until the step is done: one host
  // read per step, not one per micro-batch.
  auto run = [&](int64_t m) {
    at::Tensor loss = sft_loss_sum(model, micro_batches[m]) / denom;
    return MicroBatchLoss{.loss = loss, .stats = loss.detach().reshape({1})};
  };
  R1_ASSIGN_OR_RETURN(at::Tensor total, accumulate_micro_batches(model.parameters(), costs, 1, run, options));
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

// The `device` and `dtype` keys of a model that is not trained (a teacher,
// evaluate_file); "auto" dtype is float32 for SFT.
Result<LoadOptions> load_options(const SFTConfig& c) { return resolve_load_options(c.compute, at::kFloat, false); }

// The teacher for logit distillation, checked against the student; nullopt
// when distill_alpha is 0.
Result<std::optional<Transformer>> maybe_load_teacher(const SFTConfig& c, const Transformer& student,
                                                      const Tokenizer& student_tok) {
  if (c.distill_alpha == 0) return std::optional<Transformer>();
  R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(c));
  load.device = student.device();  // beside the student (a rank's own GPU)
  R1_ASSIGN_OR_RETURN(Transformer teacher, load_teacher(c.teacher_model_name_or_path, load, student, student_tok));
  return std::optional<Transformer>(std::move(teacher));
}

// SFT rows, with a teacher when distilling.
class SftObjective : public TrainingObjective {
 public:
  static Result<std::unique_ptr<TrainingObjective>> make(const SFTConfig& c, const Transformer& model,
                                                         std::FILE* log) {
    auto o = std::make_unique<SftObjective>(c);
    R1_ASSIGN_OR_RETURN(Tokenizer tok, Tokenizer::load(c.model_name_or_path));
    R1_ASSIGN_OR_RETURN(SftDataOptions data, data_options(c, tok, model.config()));
    R1_ASSIGN_OR_RETURN(o->teacher_, maybe_load_teacher(c, model, tok));
    if (log && o->teacher_)
      std::fprintf(log, "distilling from %s: loss = %.3g * CE + %.3g * T^2 * KL at T = %.3g\n",
                   c.teacher_model_name_or_path.c_str(), 1.0 - c.distill_alpha, c.distill_alpha,
                   c.distill_temperature);
    else if (log && !c.teacher_model_name_or_path.empty())
      std::fprintf(log, "distill_alpha is 0: plain SFT, the teacher is not loaded\n");
    R1_ASSIGN_OR_RETURN(o->train_rows_, load_rows(c, c.train_file, tok, data, log));
    if (!c.eval_file.empty()) {
      R1_ASSIGN_OR_RETURN(o->eval_rows_, load_rows(c, c.eval_file, tok, data, log));
    }
    return std::unique_ptr<TrainingObjective>(std::move(o));
  }

  explicit SftObjective(const SFTConfig& c) : config_(c) {}

  int64_t num_rows() const override { return static_cast<int64_t>(train_rows_.size()); }

  Result<StepOutcome> accumulate(const Transformer& model, const std::vector<std::vector<int64_t>>& micro_batches,
                                 const MicroBatchOptions& split) override {
    std::vector<SftBatch> batches;
    StepOutcome out;
    for (const auto& indices : micro_batches) {
      std::vector<const SftRow*> rows;
      for (int64_t i : indices) rows.push_back(&train_rows_[i]);
      batches.push_back(collate(rows, model.device()));
      out.tokens += batches.back().input_tokens;
    }
    if (teacher_) {
      R1_ASSIGN_OR_RETURN(DistillStepLoss d, accumulate_distill_gradients(model, batches, distill(), split));
      out.loss = d.loss;
      out.metrics = {{"ce", d.ce}, {"kl", d.kl}};
    } else {
      R1_ASSIGN_OR_RETURN(out.loss, accumulate_gradients(model, batches, split));
    }
    return out;
  }

  Result<Metrics> evaluate(const Transformer& model) override {
    if (eval_rows_.empty()) return Metrics();
    EvalResult e = r1::evaluate(model, eval_rows_, config_.per_device_eval_batch_size, distill());
    Metrics m = {{"eval_loss", e.loss}, {"eval_tokens", static_cast<double>(e.tokens)}};
    if (e.kl) m.push_back({"eval_kl", *e.kl});
    return m;
  }

 private:
  DistillOptions distill() const {
    if (!teacher_) return {};
    return {&*teacher_, config_.distill_alpha, config_.distill_temperature};
  }

  const SFTConfig& config_;
  std::vector<SftRow> train_rows_, eval_rows_;
  std::optional<Transformer> teacher_;  // loaded only when distill_alpha > 0
};

}  // namespace

Result<SftRunResult> run_sft(const SFTConfig& c, bool resume, std::FILE* log) {
  TrainerLoopOptions options{.config_file_name = "sft_config.json", .config_json = sft_config_json(c)};
  auto make = [&c](const Transformer& model, std::FILE* log) { return SftObjective::make(c, model, log); };
  R1_ASSIGN_OR_RETURN(TrainerLoopResult r, run_trainer_loop(c, options, make, resume, log));
  SftRunResult result{.global_step = r.global_step, .last_loss = r.last_loss, .model_dir = r.model_dir};
  for (const auto& [name, value] : r.eval)
    if (name == "eval_loss") result.eval_loss = value;
  return result;
}

Result<EvalResult> evaluate_file(const SFTConfig& c, const std::string& model_dir, const std::string& file) {
  R1_ASSIGN_OR_RETURN(LoadOptions load, load_options(c));
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
