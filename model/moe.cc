#include "model/moe.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <limits>

#include "model/gemm.h"
#include "model/layer_ops.h"

namespace r1 {

namespace {

// Keeps the best topk_group of n_group expert groups: the others' scores
// become `dropped` (-inf for V3's biased scores, 0 for V2's probabilities).
at::Tensor limit_to_best_groups(const at::Tensor& scores, const MoeConfig& c, bool v3) {
  int64_t T = scores.size(0), E = scores.size(1), per_group = E / c.n_group;
  at::Tensor grouped = scores.view({T, c.n_group, per_group});
  at::Tensor group_scores = v3 ? std::get<0>(grouped.topk(2, -1)).sum(-1) : std::get<0>(grouped.max(-1));
  at::Tensor best = std::get<1>(group_scores.topk(c.topk_group, -1, /*largest=*/true, /*sorted=*/false));
  at::Tensor keep = at::zeros_like(group_scores, at::kBool).scatter_(1, best, true);
  at::Tensor keep_experts = keep.unsqueeze(-1).expand({T, c.n_group, per_group}).reshape({T, E});
  double dropped = v3 ? -std::numeric_limits<double>::infinity() : 0.0;
  return scores.masked_fill(keep_experts.logical_not(), dropped);
}

}  // namespace

ExpertChoice route_tokens(const MoeWeights& w, const MoeConfig& c, const at::Tensor& x, const at::Tensor& replay) {
  bool v3 = c.scoring_func == "sigmoid";
  // at::linear, as transformers: a near tie must fall the same way.
  at::Tensor logits = at::linear(x.to(at::kFloat), w.router.to(at::kFloat));  // [T, E]
  at::Tensor scores = v3 ? logits.sigmoid() : logits.softmax(-1);
  at::Tensor choice;
  {
    at::NoGradGuard no_grad;  // selection only: the bias and the masks take no gradient
    choice = v3 ? scores + w.score_bias : scores;
    if (c.topk_group < c.n_group) choice = limit_to_best_groups(choice, c, v3);
  }
  at::Tensor own = std::get<1>(choice.topk(c.num_experts_per_tok, -1, /*largest=*/true, /*sorted=*/false));
  at::Tensor experts = replay.defined() ? at::where(replay >= 0, replay, own) : own;
  at::Tensor weights = scores.gather(1, experts);
  if (c.norm_topk_prob) weights = weights / (weights.sum(-1, /*keepdim=*/true) + 1e-20);
  return {experts, weights * c.routed_scaling_factor, own, logits};
}

namespace {

// Each expert's SwiGLU over its contiguous segment of `rows` (sorted by expert).
at::Tensor segment_products(const MoeWeights& w, const at::Tensor& rows, const std::vector<int64_t>& counts) {
  std::vector<at::Tensor> outputs;
  int64_t start = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] == 0) continue;
    at::Tensor segment = rows.narrow(0, start, counts[e]);
    outputs.push_back(swiglu(segment, w.gate_proj[e], w.up_proj[e], w.down_proj[e]));
    start += counts[e];
  }
  return at::cat(outputs);
}

// The same with the stacked experts: rows scattered into [experts, largest
// group, hidden] (zero padding), two batched products, the rows gathered back.
at::Tensor padded_group_products(const MoeWeights& w, const at::Tensor& rows, const at::Tensor& expert_of_row,
                                 const std::vector<int64_t>& counts, int64_t largest) {
  int64_t E = static_cast<int64_t>(counts.size()), F = w.stacked_down.size(2);
  std::vector<int64_t> starts(E, 0);
  for (int64_t e = 1; e < E; ++e) starts[e] = starts[e - 1] + counts[e - 1];
  at::Tensor start = at::tensor(starts, at::kLong).to(rows.device()).index_select(0, expert_of_row);
  at::Tensor slot = at::arange(rows.size(0), start.options()) - start;  // the row's place in its group
  at::Tensor padded = at::zeros({E, largest, rows.size(1)}, rows.options()).index_put_({expert_of_row, slot}, rows);
  at::Tensor gate_up = gemm::matmul(padded, w.stacked_gate_up.transpose(1, 2));  // [E, largest, 2F]
  at::Tensor hidden = at::silu(gate_up.narrow(-1, 0, F)) * gate_up.narrow(-1, F, F);
  return gemm::matmul(hidden, w.stacked_down.transpose(1, 2)).index({expert_of_row, slot});
}

}  // namespace

at::Tensor routed_experts(const MoeWeights& w, const at::Tensor& x, const ExpertChoice& choice) {
  int64_t k = choice.experts.size(1), E = static_cast<int64_t>(w.gate_proj.size());
  at::Tensor flat = choice.experts.reshape({-1});  // [T * k]: pair p is token p / k
  at::Tensor order = std::get<1>(at::sort(flat, std::optional<bool>(true), 0, false));  // pairs grouped by expert
  at::Tensor token = order.div(k, "floor");
  at::Tensor host_counts = at::bincount(flat, {}, E).to(at::kCPU);  // one host read per layer
  std::vector<int64_t> counts(host_counts.data_ptr<int64_t>(), host_counts.data_ptr<int64_t>() + E);
  int64_t largest = *std::max_element(counts.begin(), counts.end());
  at::Tensor rows = x.index_select(0, token);
  bool padded = w.stacked_gate_up.defined() && E * largest <= 4 * flat.size(0);
  at::Tensor outputs = padded ? padded_group_products(w, rows, flat.index_select(0, order), counts, largest)
                              : segment_products(w, rows, counts);
  // The weight product in fp32 as transformers does, then back to the compute dtype.
  at::Tensor scale = choice.weights.reshape({-1}).index_select(0, order).unsqueeze(1);
  at::Tensor weighted = (outputs * scale).to(x.scalar_type());
  return at::zeros_like(x).index_add(0, token, weighted);
}

void stack_experts(MoeWeights& w) {
  std::vector<at::Tensor> gate_up;
  for (size_t e = 0; e < w.gate_proj.size(); ++e) gate_up.push_back(at::cat({w.gate_proj[e], w.up_proj[e]}));
  w.stacked_gate_up = at::stack(gate_up);
  w.stacked_down = at::stack(w.down_proj);
}

at::Tensor moe_block(const MoeWeights& w, const MoeConfig& c, const at::Tensor& x, const at::Tensor& replay,
                     ExpertChoice* choice) {
  at::Tensor flat = x.reshape({-1, x.size(-1)});
  ExpertChoice route =
      route_tokens(w, c, flat, replay.defined() ? replay.reshape({-1, c.num_experts_per_tok}) : replay);
  at::Tensor out = routed_experts(w, flat, route);
  if (w.shared_gate.defined()) out = out + swiglu(flat, w.shared_gate, w.shared_up, w.shared_down);
  if (choice) *choice = std::move(route);
  return out.view(x.sizes());
}

at::Tensor load_balancing_loss(const std::vector<at::Tensor>& logits, int64_t top_k, const at::Tensor& token_weight) {
  int64_t E = logits.at(0).size(-1);
  at::Tensor weight = token_weight.to(at::kFloat).reshape({-1});
  at::Tensor slots = at::zeros({E}, weight.options()), probability = at::zeros({E}, weight.options());
  for (const at::Tensor& layer : logits) {
    at::Tensor p = layer.reshape({-1, E}).to(at::kFloat).softmax(-1);  // [T, E]
    at::Tensor chosen = std::get<1>(p.topk(top_k, -1));                // [T, k]
    at::Tensor counted = weight.unsqueeze(1).expand({weight.size(0), top_k});
    slots = slots.scatter_add(0, chosen.reshape({-1}), counted.reshape({-1}));
    probability = probability + (p * weight.unsqueeze(1)).sum(0);
  }
  at::Tensor rows = weight.sum() * static_cast<double>(logits.size());
  return (slots / rows * (probability / rows)).sum() * static_cast<double>(E);
}

void moe_tensor_shapes(const ModelConfig& c, const std::string& p, TensorShapes& out) {
  const MoeConfig& e = c.moe;
  int64_t h = c.hidden_size, f = e.moe_intermediate_size;
  out.push_back({p + "mlp.gate.weight", {e.n_routed_experts, h}});
  if (c.family == ModelFamily::deepseek_v3)
    out.push_back({p + "mlp.gate.e_score_correction_bias", {e.n_routed_experts}});
  for (int64_t i = 0; i < e.n_routed_experts; ++i) {
    std::string x = p + "mlp.experts." + std::to_string(i) + ".";
    out.push_back({x + "gate_proj.weight", {f, h}});
    out.push_back({x + "up_proj.weight", {f, h}});
    out.push_back({x + "down_proj.weight", {h, f}});
  }
  if (e.n_shared_experts > 0) {
    int64_t s = f * e.n_shared_experts;
    out.push_back({p + "mlp.shared_experts.gate_proj.weight", {s, h}});
    out.push_back({p + "mlp.shared_experts.up_proj.weight", {s, h}});
    out.push_back({p + "mlp.shared_experts.down_proj.weight", {h, s}});
  }
}

MoeWeights bind_moe(const std::function<at::Tensor(const std::string&)>& get, const ModelConfig& c,
                    const std::string& p) {
  MoeWeights w;
  w.router = get(p + "mlp.gate.weight");
  w.score_bias = get(p + "mlp.gate.e_score_correction_bias");
  for (int64_t i = 0; i < c.moe.n_routed_experts; ++i) {
    std::string x = p + "mlp.experts." + std::to_string(i) + ".";
    w.gate_proj.push_back(get(x + "gate_proj.weight"));
    w.up_proj.push_back(get(x + "up_proj.weight"));
    w.down_proj.push_back(get(x + "down_proj.weight"));
  }
  w.shared_gate = get(p + "mlp.shared_experts.gate_proj.weight");
  w.shared_up = get(p + "mlp.shared_experts.up_proj.weight");
  w.shared_down = get(p + "mlp.shared_experts.down_proj.weight");
  return w;
}

bool keeps_fp32(const std::string& name) {
  static const std::string kSuffix = "e_score_correction_bias";
  return name.size() >= kSuffix.size() && name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

}  // namespace r1
