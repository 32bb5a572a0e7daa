// How the ranks of a data-parallel run talk: the ddp_* keys of the rl and
// sft configs (transformers' TrainingArguments names), one struct, field
// table and check for both, and what ProcessGroup::join takes (with the
// rank's device, which comes from the model). Needs no tensors, so the
// configs that hold it stay light.
#pragma once

#include <cstdint>
#include <string>

#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct DdpOptions {
  // Key ddp_timeout: seconds a rank waits for the others to arrive, and at
  // each collective.
  double timeout_s = 1800;
  // Key ddp_backend. "auto": NCCL when every rank is on a GPU of its own
  // (no two ranks of a host on one GPU, which NCCL refuses) and this build
  // has NCCL, else Gloo; "nccl": NCCL or an error saying why not; "gloo":
  // Gloo for all tensors (it stages CUDA tensors through host memory).
  std::string backend = "auto";
  // Key ddp_bucket_cap_mb: all-reduces and broadcasts go in buckets of at
  // most this many MB per device and dtype (a larger tensor goes alone), so
  // the flat copies they travel in cost at most that much memory (DDP's 25).
  double bucket_cap_mb = 25;
  // Key ddp_check_weights: the trainers compare a digest of the weights
  // across ranks after every optimizer step, not only at checkpoints (a
  // debug mode; ProcessGroup itself does not read it).
  bool check_weights = false;
  // Key zero_stage (DeepSpeed's ZeRO stages): 0 = every rank holds the whole
  // optimizer state; 1 = the fp32 master weights and AdamW's moments are
  // sharded over the ranks, each stepping the tensors it owns and
  // broadcasting them (train/zero.h). Stages 2 and 3 (sharded gradients,
  // sharded weights) are not built.
  int64_t zero_stage = 0;
};

// The five keys, with their help.
const ConfigFields<DdpOptions>& ddp_option_fields();

// Ranges and spellings; errors name the key.
Status check_ddp_options(const DdpOptions& options);

// "auto", "gloo" or "nccl"; otherwise an error naming `key`.
Status check_ddp_backend(const std::string& backend, const std::string& key = "ddp_backend");

}  // namespace r1
