// The GRPO clipped-surrogate policy loss with TRL 1.16's loss types, as a pure
// function of tensors (no model, no optimizer), in the style of verl's
// core_algos.py. Formulas and the TRL correspondence: docs/grpo.md.
//
// Shapes: B sequences in this micro-batch, T completion positions.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

struct GRPOConfig;

struct LossOptions {
  std::string loss_type = "dapo";  // grpo | bnpo | dr_grpo | dapo (TRL names, TRL default dapo)
  double epsilon = 0.2;            // lower clip: ratio >= 1 - epsilon
  double epsilon_high = 0.2;       // upper clip: ratio <= 1 + epsilon_high (TRL: None → epsilon)
  double beta = 0.0;               // weight of the k3 KL to the reference policy
  std::optional<double> delta;     // two-sided clipping (INTELLECT-2): unclipped ratio capped at delta
  std::string importance_sampling_level = "token";  // token | sequence (GSPO)
  bool use_bias_correction_kl = true;               // KL term × ratio (TRL default true)
  int64_t max_completion_length = 512;              // dr_grpo's constant
};

// What the summed loss is divided by. Counts cover every micro-batch whose
// gradients are summed into one optimizer step (all ranks, if gradients are
// summed across ranks), so summing micro-batch losses equals one big batch.
struct LossNormalizer {
  double num_sequences = 0;   // grpo, dr_grpo: sequences in the step
  at::Tensor num_tokens;      // dapo: 0-dim, active completion tokens in the step (stays on device)
  int64_t num_micro_batches = 1;  // bnpo: TRL's local token mean is divided by this
};

struct LossInputs {
  at::Tensor per_token_logps;      // [B,T] float, requires grad (current policy)
  at::Tensor old_per_token_logps;  // [B,T] or undefined (num_iterations == 1 → per_token_logps.detach())
  at::Tensor ref_per_token_logps;  // [B,T], required iff beta != 0; undefined otherwise
  at::Tensor advantages;           // [B] (or [B,T])
  at::Tensor completion_mask;      // [B,T], 1 = token in the loss (any dtype)
  // [B,T] or [B,1], detached, or undefined (all 1): each token's surrogate is
  // multiplied by it before the KL term (grpo/sampling_correction.h).
  at::Tensor importance_weights;
  LossNormalizer normalizer;
};

struct LossOutput {
  at::Tensor loss;  // 0-dim, the value to backpropagate
  // 0-dim detached tensors, TRL's metric names, values for this micro-batch:
  // clip_ratio/low_mean, clip_ratio/high_mean, clip_ratio/region_mean,
  // clip_ratio/low_min, clip_ratio/high_max, and kl when beta != 0.
  // Tensors, so reading them (a host sync) is the caller's choice.
  std::map<std::string, at::Tensor> metrics;
};

// Reduces the masked per-token loss ([B,T] or [B,1]) to the scalar loss.
// Errors name a missing or invalid normalizer field.
using LossAggregator = Result<at::Tensor> (*)(const at::Tensor& per_token_loss, const at::Tensor& mask,
                                              const LossNormalizer&, const LossOptions&);

// Registry by TRL loss_type name; unknown names list the known ones.
Result<LossAggregator> loss_aggregator(std::string_view loss_type);
// Whether the step's loss depends on how its sequences are split into
// micro-batches (bnpo's per-micro-batch token mean); for the others the
// micro-batch losses sum to the same total however the rows are grouped.
bool loss_depends_on_micro_batching(std::string_view loss_type);
std::vector<std::string> loss_type_names();

// Validates shapes and options (errors name the input or option), then
// computes the loss and metrics. No host synchronisation.
Result<LossOutput> grpo_policy_loss(const LossInputs& inputs, const LossOptions& options);

// The options a GRPOConfig implies (epsilon_high None → epsilon).
LossOptions loss_options_from_config(const GRPOConfig& config);

}  // namespace r1
