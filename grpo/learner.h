// One GRPO policy update: teacher-forced log-probs of the sampled completions
// under the current policy, the clipped-surrogate loss over micro-batches
// normalised by the whole step's counts (so micro-batching leaves the
// gradient unchanged), grad-norm clipping and an AdamW step.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "grpo/policy_loss.h"
#include "grpo/sampling_correction.h"
#include "model/transformer.h"
#include "rollout/sample.h"
#include "train/optimizer.h"
#include "train/process_group.h"
#include "util/status.h"

namespace r1 {

// The learner reads, of each Sample of a step: prompt_ids, token_ids,
// logprobs (when use_sampling_logprobs or sampling_correction),
// old_logprobs (when sampling_correction; empty = the current policy's),
// finish_reason (when mask_truncated_completions), advantage and, for MoE
// policies, routed_experts (when the sampler recorded them).
struct LearnerOptions {
  LossOptions loss;
  // Off-policy updates compare with the log-probs the sampler recorded;
  // on-policy ones with the current log-probs, detached (TRL).
  bool use_sampling_logprobs = false;
  // Sampling ran ahead with older weights: the ratio is taken against π_old
  // (each Sample's old_logprobs, or the current policy's when empty: the
  // generation's first update) and each token's surrogate is weighted by the
  // corrected π_old / π_sampling (grpo/sampling_correction.h).
  std::optional<SamplingCorrectionOptions> sampling_correction;
  // Samples cut at the length limit stay in the batch but out of the loss
  // and its token counts (TRL's mask_truncated_completions).
  bool mask_truncated_completions = false;
  double temperature = 1.0;      // logits are divided by it, as when sampling
  int64_t micro_batch_size = 4;  // sequences per forward/backward
  // DeepSeekMoE policies (grpo/moe_routing.h). With routing_replay, the
  // policy's passes route each token as the sampler did (every Sample needs
  // routed_experts); the reference model routes by itself.
  bool routing_replay = false;
  // Weight of the router's load-balancing loss (TRL's router_aux_loss_coef),
  // added per micro-batch divided by the step's micro-batches, as TRL does.
  double router_aux_loss_coef = 0.0;
  // On-policy distillation (a run with teacher_model_name_or_path): the
  // loss is the reverse KL to this teacher on the policy's own samples
  // (distill/chunked_kl.h), in place of the clipped surrogate; the
  // advantages are not read. nullptr: GRPO.
  const Transformer* teacher = nullptr;
  double max_grad_norm = 1.0;    // <= 0: measure only
  double learning_rate = 1e-6;
  // Micro-batches run concurrently, each stream with its share of the
  // intra-op threads and its own gradient sums (added in a fixed order, so
  // results stay reproducible); 0 = 2 on the CPU, 1 on a GPU. Two streams
  // hold two micro-batches' activations and two extra gradient copies.
  int streams = 0;
  // Data parallelism (nullptr: this process alone). Every rank holds the
  // whole batch and identical weights; the ranks split the step's
  // micro-batches balanced by their tokens (train/micro_batches.h
  // balanced_owners), and the gradients and statistics are summed over ranks
  // before clipping. The loss normaliser counts the whole batch, so the step
  // equals one process's up to the order of the sums.
  ProcessGroup* group = nullptr;
};

struct LearnerStepStats {
  double loss = 0;       // summed over micro-batches: the full-batch loss
  double grad_norm = 0;  // before clipping
  int64_t completion_tokens = 0;  // tokens in the loss
  // Of the step's wall time, in the reference model's no-grad pass (beta != 0):
  // summed over micro-batches and divided by the number of concurrent streams.
  double ref_logprobs_seconds = 0;
  // Loss metrics averaged over micro-batches (TRL names), plus "entropy":
  // the mean entropy of the policy's token distributions over loss tokens,
  // and for MoE policies "moe/aux_loss" and the routing metrics of
  // grpo/moe_routing.h.
  std::map<std::string, double> metrics;
  // With sampling_correction: rows of the batch whose importance weight is 0
  // on every loss token (masked out by the correction), in batch order; this
  // rank's micro-batches only.
  std::vector<size_t> masked_rows;
};

// Accumulates gradients of the step's loss into the policy's tensors
// (requires grad) without stepping; `reference` is needed iff beta != 0.
Result<LearnerStepStats> accumulate_policy_gradients(const Transformer& policy, const Transformer* reference,
                                                     const std::vector<Sample>& batch, const LearnerOptions& options);

// π_old for sampling_correction: each sample's old_logprobs, scored by
// `policy` without gradients in micro-batches of micro_batch_size.
Status fill_old_logprobs(const Transformer& policy, std::vector<Sample*>& samples, const LearnerOptions& options);

// accumulate_policy_gradients, then clip and one AdamW step.
Result<LearnerStepStats> learner_step(const Transformer& policy, const Transformer* reference, AdamW& optimizer,
                                      const std::vector<Sample>& batch, const LearnerOptions& options);

}  // namespace r1
