// Training checkpoints: one folder per save, output_dir/checkpoint-<step>/,
// holding everything needed to continue a run bit for bit:
//   config.json, model.safetensors, tokenizer files   the HF model (Transformer::save)
//   optimizer.safetensors                             AdamW state (AdamW::state_tensors), step in metadata
//   trainer_state.json                                step, epoch, seed, data cursor, log history
// A folder is assembled under output_dir/.checkpoint-<step>.tmp and renamed
// into place only when complete, so a crash never leaves a half checkpoint
// under the checkpoint-<step> name.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "util/status.h"

namespace r1 {

class AdamW;
class Transformer;

struct TrainerState {
  int64_t global_step = 0;             // optimizer steps done
  double epoch = 0.0;                  // epochs done, fractional (HF convention)
  uint64_t seed = 0;
  std::string data_cursor = "{}";      // the trainer's JSON (e.g. epoch, batch index), kept verbatim
  std::vector<std::string> log_history;  // one JSON object per logging / eval event
  // More tensors the trainer needs back, one safetensors file per entry
  // (e.g. "ref_model.safetensors" for a reference model that moves). Saved
  // only; the trainer reads them from the checkpoint folder when resuming.
  std::map<std::string, TensorMap> extra_tensor_files;
};

struct CheckpointOptions {
  std::string output_dir;
  int64_t save_total_limit = 0;  // keep the newest K complete checkpoints; 0 keeps all
  std::string tokenizer_from;    // folder whose tokenizer files go with the model
};

// What optimizer.safetensors holds: an unsharded AdamW's state_tensors()
// (train/zero.h checkpoint_optimizer_state gathers a sharded one's) and its
// step count.
struct OptimizerCheckpoint {
  TensorMap state;
  int64_t steps = 0;
};

// Writes output_dir/checkpoint-<state.global_step> and then deletes the
// oldest checkpoints beyond save_total_limit. Returns the folder.
Result<std::string> save_training_checkpoint(const CheckpointOptions& options, const Transformer& model,
                                             const OptimizerCheckpoint& optimizer, const TrainerState& state);

// The complete checkpoint with the highest step in output_dir, or "" when
// there is none (a missing output_dir has none).
Result<std::string> find_last_checkpoint(const std::string& output_dir);

// Complete checkpoints of output_dir, oldest first.
Result<std::vector<std::string>> list_checkpoints(const std::string& output_dir);

Result<TrainerState> load_trainer_state(const std::string& checkpoint_dir);
// Restores optimizer.safetensors into `optimizer`, built over the model
// loaded from the same folder.
Status load_optimizer_state(const std::string& checkpoint_dir, AdamW& optimizer);

}  // namespace r1
