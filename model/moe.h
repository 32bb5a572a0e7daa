// DeepSeekMoE (V2/V3), as transformers' DeepseekV2Moe / DeepseekV3MoE
// computes it: a router picks num_experts_per_tok routed experts per token,
// their SwiGLU outputs are summed with the router's weights, and the shared
// experts (one SwiGLU MLP) are added for every token.
//
// The routed experts run grouped, not per token: the (token, expert) pairs
// are sorted by expert, each expert multiplies its contiguous segment of
// gathered rows at once, and the weighted results are added back to their
// tokens (index_add). Every step is an autograd op, so the backward follows.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/safetensors.h"

namespace r1 {

struct MoeWeights {
  at::Tensor router;      // [experts, hidden]: mlp.gate.weight
  at::Tensor score_bias;  // [experts] fp32, V3 only: mlp.gate.e_score_correction_bias (selection only)
  std::vector<at::Tensor> gate_proj, up_proj, down_proj;  // per routed expert
  at::Tensor shared_gate, shared_up, shared_down;         // undefined without shared experts
  // Set by Transformer::with_fused_projections only: the routed experts
  // stacked, [experts, 2 * moe_intermediate, hidden] (gate; up) and
  // [experts, hidden, moe_intermediate], so that a decode step can run all
  // experts as two batched products over padded groups instead of 3 per expert.
  at::Tensor stacked_gate_up, stacked_down;
};

// Fills stacked_gate_up / stacked_down (copies: they do not follow training).
void stack_experts(MoeWeights& w);

// Each token's routed experts and their weights (routed_scaling_factor applied).
struct ExpertChoice {
  at::Tensor experts;  // [T, k] int64: the experts used (the replayed ones where replayed)
  at::Tensor weights;  // [T, k] fp32, differentiable in the router weight
  at::Tensor own;      // [T, k] int64: the router's own choice (= experts without replay)
  at::Tensor logits;   // [T, E] fp32 router logits, differentiable (the balancing loss reads them)
};

// x [T, hidden]. Scores in fp32; V3: sigmoid, chosen by score + bias within
// the best topk_group groups (a group's score: its two best); V2: softmax,
// greedy or within the best groups (a group's score: its best).
// replay [T, k] int64 (optional): routing replay, the experts to use instead
// of the router's choice; a token whose entries are -1 keeps the router's.
// The weights are the router's scores of the experts used, so replayed
// routes still train the router.
ExpertChoice route_tokens(const MoeWeights& w, const MoeConfig& c, const at::Tensor& x, const at::Tensor& replay = {});

// sum_j weights[t, j] * expert_{experts[t, j]}(x[t]) for x [T, hidden], grouped by expert:
// one product per expert over its contiguous rows, or, with stacked experts
// and groups balanced enough (padding at most 4x the rows), batched
// products over the groups padded to the largest.
at::Tensor routed_experts(const MoeWeights& w, const at::Tensor& x, const ExpertChoice& choice);

// What one forward call does with its MoE layers' routes (Transformer::forward).
// Vectors hold one entry per MoE layer, in layer order.
struct MoeRouting {
  // In: routes to replay, [B, L, k] int64 per MoE layer (-1: the router's own); empty = none.
  std::vector<at::Tensor> replay;
  // In: fill `chosen` and `router_logits` below.
  bool record = false;
  // Out: the router's own choice [B, L, k] int64, before any replay.
  std::vector<at::Tensor> chosen;
  // Out: the router logits [B, L, E] fp32, differentiable.
  std::vector<at::Tensor> router_logits;
};

// The whole MoE MLP: x [..., hidden] -> [..., hidden]; replay [..., k] as
// route_tokens takes it. `choice`, when given, receives the routing.
at::Tensor moe_block(const MoeWeights& w, const MoeConfig& c, const at::Tensor& x, const at::Tensor& replay = {},
                     ExpertChoice* choice = nullptr);

// transformers' load_balancing_loss_func (Switch Transformer), the loss
// TRL's router_aux_loss_coef weighs: E * sum_e f_e * P_e, with f_e the
// fraction of top-k slots given to expert e by softmax(logits) and P_e its
// mean softmax probability, both over all layers' tokens. `logits`: per MoE
// layer [T, E]; token_weight [T]: how often each token counts (0 = padding;
// a prompt shared by G completions counts G times, as in TRL's batch).
at::Tensor load_balancing_loss(const std::vector<at::Tensor>& logits, int64_t top_k, const at::Tensor& token_weight);

// The MoE MLP's tensors of one layer under HF names (prefix "model.layers.i.").
void moe_tensor_shapes(const ModelConfig& c, const std::string& prefix, TensorShapes& out);
MoeWeights bind_moe(const std::function<at::Tensor(const std::string&)>& get, const ModelConfig& c,
                    const std::string& prefix);

// True for tensors kept in fp32 whatever the compute dtype (transformers'
// _keep_in_fp32_modules_strict): the router's score correction bias.
bool keeps_fp32(const std::string& name);

}  // namespace r1
