// AdamW over a Transformer's weights, with fp32 master weights, decoupled
// weight decay that skips norms and biases, and global grad-norm clipping.
// Shared by the SFT trainer, the GRPO learner and distillation.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "model/safetensors.h"
#include "util/status.h"

namespace r1 {

class Transformer;

struct AdamWOptions {
  double beta1 = 0.9;  // HF TrainingArguments adam_beta1
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // applied only where decays_weight(name)
  // ZeRO stage 1 (train/zero.h): owner[i] is the rank that keeps the fp32
  // master and moments of the model's i-th tensor (Transformer::tensors()
  // order) and steps it; this process is rank `rank`. Empty: this process
  // keeps and steps every tensor.
  std::vector<int> owner{};
  int64_t rank = 0;
};

// Weight decay is for matrices and embeddings only: norm gains and biases
// are excluded, as HF Trainer's get_decay_parameter_names does (it skips
// LayerNorm/RMSNorm weights and every "bias").
bool decays_weight(const std::string& name);

class AdamW {
 public:
  // The model's tensors must require grad (LoadOptions::trainable, or
  // set_requires_grad on Transformer::random's). fp32 tensors are their own
  // master weights; others (bf16) get an fp32 master copy that step() updates
  // and copies back.
  AdamW(const Transformer& model, AdamWOptions options);

  // Global L2 norm of all gradients (fp32), then scales them (sharded: the
  // ones this rank steps) by min(1, max_norm / (norm + 1e-6)) as
  // torch.nn.utils.clip_grad_norm_ does.
  // Returns the norm before clipping. max_norm <= 0 only measures. Missing
  // gradients count as zero.
  double clip_grad_norm(double max_norm);

  // One AdamW update with learning rate `lr` (at::_fused_adamw_, the same
  // arithmetic as torch.optim.AdamW) of the tensors this rank owns; then
  // clears the gradients. Sharded, the others' new values come from their
  // owners (train/zero.h step_optimizer).
  void step(double lr);
  void zero_grad();

  int64_t steps_taken() const { return step_; }
  const AdamWOptions& options() const { return options_; }

  // State as named tensors for a checkpoint: "<param>.exp_avg",
  // "<param>.exp_avg_sq", and "<param>.master" where the master is a copy;
  // sharded, this rank's tensors only.
  TensorMap state_tensors() const;
  // Restores state_tensors() output (of this rank's tensors: a whole
  // checkpoint's state restores any shard); every tensor this rank owns must
  // be present with the right shape. `where` names the file in errors.
  Status load_state(const TensorMap& state, int64_t steps_taken, const std::string& where);

  // ZeRO stage 1: whether the state is sharded over ranks, the model's
  // tensors rank `rank` owns (in a fixed order), and its state as
  // state_tensors() names it: this rank's own tensors, or for another rank
  // fp32 tensors of the same names and shapes on the meta device (no memory).
  bool sharded() const { return !options_.owner.empty(); }
  std::vector<at::Tensor> tensors_of(int64_t rank) const;
  TensorMap state_of(int64_t rank) const;

 private:
  struct Group {
    std::vector<std::string> names;
    std::vector<at::Tensor> params;   // the model's tensors
    std::vector<int> owner;           // the rank that steps params[i]
    // fp32; same tensor as params[i] when fp32. These four are undefined
    // for tensors another rank owns.
    std::vector<at::Tensor> masters;
    std::vector<at::Tensor> exp_avg, exp_avg_sq, steps;
    bool mine(size_t i, int64_t rank) const { return owner[i] == rank; }
  };
  void sync_master_grads();

  AdamWOptions options_;
  Group decay_, no_decay_;
  int64_t step_ = 0;
};

}  // namespace r1
