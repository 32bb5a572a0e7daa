// SFT: token-mean next-token loss over each optimizer step's target tokens
// (sft/sft_loss.h), or logit distillation from a teacher
// (distill/distill_loss.h), run by the shared trainer loop
// (train/trainer_loop.h: accumulation, AdamW with an LR schedule, held-out
// loss, checkpoints and exact resume).
#pragma once

#include <ATen/ATen.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "distill/distill_loss.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "sft/sft_config.h"
#include "sft/sft_data.h"
#include "train/micro_batches.h"
#include "train/trainer_loop.h"
#include "util/status.h"

namespace r1 {

// Backpropagates one optimizer step's micro-batches, each micro-batch's loss
// sum divided by the target tokens of the whole step, so any split into
// micro-batches gives the gradient of one big batch. Returns that token-mean
// loss. The micro-batches run over CPU streams and ranks as
// train/micro_batches.h says (every rank passes the whole step's batches).
Result<double> accumulate_gradients(const Transformer& model, const std::vector<SftBatch>& micro_batches,
                                    const MicroBatchOptions& options = {});

struct EvalResult {
  double loss = 0.0;  // token mean over all rows (cross-entropy, also when distilling)
  int64_t tokens = 0;
  std::optional<double> kl;  // token-mean KL(teacher || student) at T, with a teacher
};
EvalResult evaluate(const Transformer& model, const std::vector<SftRow>& rows, int64_t batch_size,
                    const DistillOptions& distill = {});

struct SftRunResult {
  int64_t global_step = 0;
  double last_loss = 0.0;             // loss of the last optimizer step
  std::optional<double> eval_loss{};  // held-out loss at the end
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
