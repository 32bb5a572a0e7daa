// Logit distillation, the other way distill/ makes students (besides SFT on
// rejection-sampled teacher traces): the teacher's token distribution at
// temperature T is a soft target next to the labels. The SFT trainer
// (sft/sft_trainer.h) runs it when distill_alpha > 0.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "model/transformer.h"
#include "sft/sft_data.h"
#include "train/micro_batches.h"
#include "util/status.h"

namespace r1 {

// alpha = 0 is plain SFT (no teacher).
struct DistillOptions {
  const Transformer* teacher = nullptr;
  double alpha = 0.0;
  double temperature = 1.0;
};

// KL(p || q) = sum_v p_v (log p_v - log q_v) over the last dimension, from
// log-probabilities [..., V] -> [...]; tokens p gives probability 0 add
// nothing (0 log 0 = 0). Both distillation losses use it chunk by chunk
// (distill/chunked_kl.h): logit distillation KL(teacher || student),
// on-policy KL(student || teacher).
at::Tensor kl_divergence(const at::Tensor& log_p, const at::Tensor& log_q);

// Sums over the batch's targets, in fp32: ce = -log p_s(label) and
// kl = KL(p_t || p_s) with p = softmax(logits / T) (the teacher's logits carry
// no gradient), and loss = kl_weight * kl + ce_weight * ce, differentiable in
// the student. Chunked: no [targets, vocab] logits of either model are kept
// (distill/chunked_kl.h).
struct DistillLossSums {
  at::Tensor loss;
  at::Tensor ce, kl;  // no grad
};
DistillLossSums distill_loss_sums(const Transformer& student, const Transformer& teacher, const SftBatch& batch,
                                  double temperature, double kl_weight = 1.0, double ce_weight = 1.0);

// Backpropagates loss (1 - alpha) * CE + alpha * T^2 * KL per target token,
// each term summed over the step's micro-batches and divided by the step's
// target tokens, so any split into micro-batches gives one big batch's
// gradient (T^2 keeps the KL gradient's scale as T changes, as Hinton et al. do).
struct DistillStepLoss {
  double loss = 0.0, ce = 0.0, kl = 0.0;  // token means over the step
};
// The micro-batches run over CPU streams and ranks as train/micro_batches.h says.
Result<DistillStepLoss> accumulate_distill_gradients(const Transformer& student,
                                                     const std::vector<SftBatch>& micro_batches,
                                                     const DistillOptions& distill,
                                                     const MicroBatchOptions& options = {});

// An error unless the teacher can be distilled into the student: the same
// vocab_size and the same token at every id.
Status check_same_vocabulary(const Transformer& student, const Tokenizer& student_tok, const Transformer& teacher,
                             const Tokenizer& teacher_tok, const std::string& teacher_path);

// The teacher at `path`, loaded with `load` and checked against the student.
Result<Transformer> load_teacher(const std::string& path, const LoadOptions& load, const Transformer& student,
                                 const Tokenizer& student_tok);

}  // namespace r1
