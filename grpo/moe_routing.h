// DeepSeekMoE policies in the GRPO learner:
//   - routing replay: the policy's forward passes route each token to the
//     experts the sampler chose (Sample::routed_experts), so that an update
//     trains the experts that produced the tokens (without it, GRPO on large
//     MoE models collapses: Megatron-LM #4168);
//   - the router's load-balancing loss, weighted by router_aux_loss_coef (TRL);
//   - metrics: each expert's share of the routed slots, and the fraction of
//     (token, MoE layer) pairs whose experts differ between sampler and learner.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

#include "model/scoring.h"
#include "rollout/sample.h"
#include "util/status.h"

namespace r1 {

// The MoE keys need a policy with routed experts: a clear error otherwise.
Status check_moe_keys(const ModelConfig& policy, bool routing_replay, double router_aux_loss_coef);

struct LearnerRouting {
  // Passed to completion_logprobs: records the router's choice and logits,
  // and replays the sampler's routes when asked.
  PromptCompletionRouting forward;
  // The sampler's routes per MoE layer, [K, P, k] and [N, C, k] int64, -1
  // where none was recorded (padding, each completion's last token); empty
  // when the samples carry none.
  std::vector<at::Tensor> sampler_prompts, sampler_completions;
  at::Tensor prompt_weight;      // [K, P] float: completions sharing the prompt, on its tokens
  at::Tensor completion_weight;  // [N, C] float: 1 on each completion's tokens
};

// The routing of a micro-batch whose rows `rows` make up `tokens` (built by
// make_prompt_completion_batch from the same rows, in order). `replay`
// needs every row's routed_experts.
Result<LearnerRouting> learner_routing(const std::vector<const Sample*>& rows, const PromptCompletionBatch& tokens,
                                       const ModelConfig& config, bool replay);

struct RoutingTerms {
  at::Tensor aux_loss;  // 0-dim: load_balancing_loss over both forwards' tokens (differentiable)
  // [E + 2] double: routed slots per expert (the policy's router), then the
  // (token, layer) pairs whose experts differ from the sampler's, and the
  // pairs compared (0 when the samples carry no routes).
  at::Tensor counts;
};

// After completion_logprobs ran with r.forward.
RoutingTerms routing_terms(const LearnerRouting& r, const MoeConfig& config);

// From counts summed over a step: "moe/expert_load/<e>" (share of the routed
// slots, summing to 1), "moe/expert_load/max" (the largest share times the
// number of experts: 1 when balanced) and, when routes were compared,
// "moe/route_mismatch".
void add_routing_metrics(const at::Tensor& counts, std::map<std::string, double>& metrics);

}  // namespace r1
