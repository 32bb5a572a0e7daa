// The SFT loop: token-mean next-token loss over each optimizer step's target
// tokens, gradient accumulation, AdamW with an LR schedule, held-out loss,
// checkpoints and exact resume. Logs one line per logging step.
#pragma once

#include <ATen/ATen.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "model/transformer.h"
#include "sft/sft_config.h"
#include "sft/sft_data.h"
#include "util/status.h"

namespace r1 {

// Sum over the batch's targets of -log p(label) in fp32. Differentiable.
at::Tensor sft_loss_sum(const Transformer& model, const SftBatch& batch);

// Backpropagates one optimizer step's micro-batches, each micro-batch's loss
// sum divided by the target tokens of the whole step, so any split into
// micro-batches gives the gradient of one big batch. Returns that token-mean
// loss.
double accumulate_gradients(const Transformer& model, const std::vector<SftBatch>& micro_batches);

// Logit distillation: the teacher's token distribution at temperature T is a
// soft target next to the labels. alpha = 0 is plain SFT.
struct DistillOptions {
  const Transformer* teacher = nullptr;
  double alpha = 0.0;
  double temperature = 1.0;
};

// Sums over the batch's targets, in fp32: ce = -log p_s(label) and
// kl = KL(p_t || p_s) with p = softmax(logits / T) (the teacher's logits carry
// no gradient). Differentiable in the student.
struct DistillLossSums {
  at::Tensor ce, kl;
};
DistillLossSums distill_loss_sums(const Transformer& student, const Transformer& teacher, const SftBatch& batch,
                                  double temperature);

// As accumulate_gradients with loss (1 - alpha) * CE + alpha * T^2 * KL per
// target token, each term summed over the step's micro-batches and divided
// by the step's target tokens (T^2 keeps the KL gradient's scale as T
// changes, as Hinton et al. do).
struct DistillStepLoss {
  double loss = 0.0, ce = 0.0, kl = 0.0;  // token means over the step
};
DistillStepLoss accumulate_distill_gradients(const Transformer& student, const std::vector<SftBatch>& micro_batches,
                                             const DistillOptions& distill);

// An error unless the teacher can be distilled into the student: the same
// vocab_size and the same token at every id.
Status check_same_vocabulary(const Transformer& student, const Tokenizer& student_tok, const Transformer& teacher,
                             const Tokenizer& teacher_tok, const std::string& teacher_path);

struct EvalResult {
  double loss = 0.0;  // token mean over all rows (cross-entropy, also when distilling)
  int64_t tokens = 0;
  std::optional<double> kl;  // token-mean KL(teacher || student) at T, with a teacher
};
EvalResult evaluate(const Transformer& model, const std::vector<SftRow>& rows, int64_t batch_size,
                    const DistillOptions& distill = {});

// The order rows are visited in epoch `epoch`: a Fisher-Yates shuffle driven
// by mt19937_64(seed + epoch), the same on every platform.
std::vector<int64_t> epoch_order(int64_t num_rows, int64_t seed, int64_t epoch);

struct SftRunResult {
  int64_t global_step = 0;
  double last_loss = 0.0;             // loss of the last optimizer step
  std::optional<double> eval_loss;    // held-out loss at the end
  std::string model_dir;              // <output_dir>/model
};

// Runs (or with `resume`, continues from the last complete checkpoint in
// output_dir) an SFT run. Progress lines go to `log` (nullptr for none).
Result<SftRunResult> run_sft(const SFTConfig& config, bool resume, std::FILE* log);

// The held-out loss of `model_dir` on `file` under the config's data
// settings (for `r1 sft --eval-only` and parity tests); with distill_alpha >
// 0 also the KL to the config's teacher.
Result<EvalResult> evaluate_file(const SFTConfig& config, const std::string& model_dir, const std::string& file);

}  // namespace r1
