// The loop every trainer on a fixed dataset runs (SFT, logit distillation,
// reward models): epochs over shuffled rows, gradient accumulation over
// micro-batches (split over CPU streams and ranks, train/micro_batches.h),
// clipping, AdamW with an LR schedule, logging, held-out evaluation,
// checkpoints and exact resume. What the rows are and how a step's loss is
// made is the TrainingObjective's business.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/transformer.h"
#include "train/micro_batches.h"
#include "train/training_arguments.h"
#include "util/status.h"

namespace r1 {

// Named numbers in the order they are logged.
using Metrics = std::vector<std::pair<std::string, double>>;

// One optimizer step's loss and what else the objective reports of it.
struct StepOutcome {
  double loss = 0.0;
  Metrics metrics;     // averaged over the logging window, logged after "loss"
  double tokens = 0;   // input tokens, for tokens_per_second
};

class TrainingObjective {
 public:
  virtual ~TrainingObjective() = default;
  virtual int64_t num_rows() const = 0;  // training rows
  // Adds the gradients of one optimizer step to the model's .grad:
  // `micro_batches` holds each micro-batch's row indices (every rank passes
  // all of them; `split` spreads them over streams and ranks).
  virtual Result<StepOutcome> accumulate(const Transformer& model,
                                         const std::vector<std::vector<int64_t>>& micro_batches,
                                         const MicroBatchOptions& split) = 0;
  // Held-out metrics ("eval_loss" first), or none without a held-out set.
  virtual Result<Metrics> evaluate(const Transformer& model) = 0;
};

// Builds the objective once the model is loaded (its config and device; the
// tokenizer is in args.model_name_or_path). Progress lines go to `log`.
using ObjectiveFactory =
    std::function<Result<std::unique_ptr<TrainingObjective>>(const Transformer& model, std::FILE* log)>;

struct TrainerLoopOptions {
  // Written atomically into output_dir before the first step: the run's
  // whole config, under this name (e.g. "sft_config.json").
  std::string config_file_name;
  std::string config_json;
  at::ScalarType default_dtype = at::kFloat;  // what `dtype: auto` means
  // Applied to the loaded weights (the starting model or the checkpoint
  // resumed from) before anything else: e.g. a reward head on a causal LM.
  std::function<Result<Transformer>(Transformer model)> prepare_model{};
};

struct TrainerLoopResult {
  int64_t global_step = 0;
  double last_loss = 0.0;  // loss of the last optimizer step
  Metrics eval;            // held-out metrics at the end (empty without eval_file)
  std::string model_dir;   // <output_dir>/model
};

// Runs (or with `resume`, continues from the last complete checkpoint in
// output_dir) a training run as this process's rank (RANK/WORLD_SIZE, one
// process when unset); only rank 0 logs and writes the run folder.
Result<TrainerLoopResult> run_trainer_loop(const TrainingArguments& args, const TrainerLoopOptions& options,
                                           const ObjectiveFactory& make_objective, bool resume, std::FILE* log);

// The order rows are visited in epoch `epoch`: a Fisher-Yates shuffle driven
// by mt19937_64(seed + epoch), the same on every platform.
std::vector<int64_t> epoch_order(int64_t num_rows, int64_t seed, int64_t epoch);

}  // namespace r1
