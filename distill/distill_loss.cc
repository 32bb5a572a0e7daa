#include "distill/distill_loss.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

#include "distill/chunked_kl.h"
#include "sft/sft_loss.h"

namespace r1 {

DistillLossSums distill_loss_sums(const Transformer& student, const Transformer& teacher, const SftBatch& batch,
                                  double temperature, double kl_weight, double ce_weight) {
  at::Tensor student_hidden = target_hidden(student, batch);
  at::Tensor teacher_hidden;
  {
    at::NoGradGuard no_grad;
    teacher_hidden = target_hidden(teacher, batch);
  }
  auto weight = [&](double w) { return at::scalar_tensor(w, student_hidden.options().dtype(at::kFloat)); };
  DistillLoss d = chunked_distill_loss(student_hidden, student.lm_head_weight(), teacher_hidden,
                                       teacher.lm_head_weight(), KlDirection::forward, temperature, weight(kl_weight),
                                       batch.target_labels, weight(ce_weight));
  return {.loss = d.loss, .ce = d.ce.sum(), .kl = d.kl.sum()};
}

at::Tensor kl_divergence(const at::Tensor& log_p, const at::Tensor& log_q) {
  at::Tensor p = log_p.exp();
  return at::where(p > 0, p * (log_p - log_q), at::zeros_like(p)).sum(-1);
}

Result<DistillStepLoss> accumulate_distill_gradients(const Transformer& student,
                                                     const std::vector<SftBatch>& micro_batches,
                                                     const DistillOptions& d, const MicroBatchOptions& options) {
  int64_t tokens = 0;
  std::vector<int64_t> costs;
  for (const auto& b : micro_batches) tokens += b.target_tokens, costs.push_back(b.input_tokens);
  double denom = static_cast<double>(std::max<int64_t>(1, tokens));
  double kl_weight = d.alpha * d.temperature * d.temperature;
  // (loss, ce, kl) stay on the model's device until the step is done: one
  // host read per step, not three per micro-batch.
  auto run = [&](int64_t m) {
    DistillLossSums sums = distill_loss_sums(student, *d.teacher, micro_batches[m], d.temperature, kl_weight / denom,
                                             (1.0 - d.alpha) / denom);
    return MicroBatchLoss{.loss = sums.loss,
                          .stats = at::stack({sums.loss.detach(), sums.ce / denom, sums.kl / denom})};
  };
  R1_ASSIGN_OR_RETURN(at::Tensor totals, accumulate_micro_batches(student.parameters(), costs, 3, run, options));
  return DistillStepLoss{.loss = totals[0].item<double>(), .ce = totals[1].item<double>(),
                         .kl = totals[2].item<double>()};
}

Status check_same_vocabulary(const Transformer& student, const Tokenizer& student_tok, const Transformer& teacher,
                             const Tokenizer& teacher_tok, const std::string& teacher_path) {
  auto differ = [&](const std::string& what) {
    return Status::error("teacher_model_name_or_path " + teacher_path + ": " + what +
                         "; logit distillation needs the student's vocabulary (use distill_alpha 0 and train on the "
                         "teacher's samples instead)");
  };
  int64_t sv = student.config().vocab_size, tv = teacher.config().vocab_size;
  if (sv != tv)
    return differ("vocab_size " + std::to_string(tv) + " differs from the student's " + std::to_string(sv));
  if (student_tok.vocab_size() != teacher_tok.vocab_size())
    return differ("the tokenizer has " + std::to_string(teacher_tok.vocab_size()) + " tokens, the student's " +
                  std::to_string(student_tok.vocab_size()));
  for (int64_t id = 0; id < student_tok.vocab_size(); ++id)
    if (student_tok.id_to_token(id) != teacher_tok.id_to_token(id))
      return differ("token " + std::to_string(id) + " is '" + teacher_tok.id_to_token(id) + "', the student's '" +
                    student_tok.id_to_token(id) + "'");
  return Status();
}

Result<Transformer> load_teacher(const std::string& path, const LoadOptions& load, const Transformer& student,
                                 const Tokenizer& student_tok) {
  R1_ASSIGN_OR_RETURN(Transformer teacher, Transformer::load(path, load));
  R1_ASSIGN_OR_RETURN(Tokenizer teacher_tok, Tokenizer::load(path));
  R1_RETURN_IF_ERROR(check_same_vocabulary(student, student_tok, teacher, teacher_tok, path));
  return teacher;
}

}  // namespace r1
