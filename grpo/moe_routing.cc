#include "grpo/moe_routing.h"

#include <algorithm>
#include <sstream>

namespace r1 {

namespace {

// Host tensors [rows, length, layers, k] of -1, filled from `routes_of(i)`:
// row i's first `count(i)` tokens' routes.
template <typename Routes, typename Count>
at::Tensor host_routes(int64_t rows, int64_t length, int64_t per_token, Routes routes_of, Count count) {
  at::Tensor out = at::full({rows, length, per_token}, -1, at::kLong);
  int64_t* data = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows; ++i) {
    const int16_t* first = routes_of(i);
    std::copy(first, first + count(i) * per_token, data + i * length * per_token);
  }
  return out;
}

// [rows, length, layers * k] -> per layer [rows, length, k] on `device`.
std::vector<at::Tensor> per_layer(const at::Tensor& host, int64_t layers, at::Device device) {
  at::Tensor all = host.view({host.size(0), host.size(1), layers, -1}).to(device);
  std::vector<at::Tensor> out;
  for (int64_t m = 0; m < layers; ++m) out.push_back(all.select(2, m));
  return out;
}

Status check_routes(const std::vector<const Sample*>& rows, int64_t per_token, bool replay) {
  bool any = false;
  for (const Sample* s : rows) any = any || !s->routed_experts.empty();
  for (size_t i = 0; i < rows.size() && (any || replay); ++i) {
    const Sample& s = *rows[i];
    size_t fed = s.prompt_ids.size() + std::max<size_t>(1, s.token_ids.size()) - 1;  // the last token is never fed
    size_t expected = fed * static_cast<size_t>(per_token);
    if (s.routed_experts.size() != expected)
      return Status::error(
          "sample of prompt " + std::to_string(s.prompt_index) + " (sample " + std::to_string(s.sample_index) +
          ") carries " + std::to_string(s.routed_experts.size()) + " routed experts; the policy routes its " +
          std::to_string(s.prompt_ids.size()) + " prompt and " + std::to_string(s.token_ids.size()) +
          " completion tokens (all but the last) to " + std::to_string(per_token) +
          " each: " + std::to_string(expected) + (replay ? " (routing_replay needs the sampler's routes)" : ""));
  }
  return Status();
}

// (token, layer) pairs whose expert sets differ, and pairs compared, weighted.
std::pair<at::Tensor, at::Tensor> mismatch(const std::vector<at::Tensor>& own, const std::vector<at::Tensor>& sampler,
                                           const at::Tensor& weight) {
  at::Tensor differ = at::zeros({}, weight.options().dtype(at::kDouble)), compared = differ.clone();
  for (size_t m = 0; m < sampler.size(); ++m) {
    at::Tensor known = sampler[m].select(-1, 0) >= 0;
    at::Tensor diff = (std::get<0>(own[m].sort(-1)) != std::get<0>(sampler[m].sort(-1))).any(-1) & known;
    differ = differ + (diff * weight).sum();
    compared = compared + (known * weight).sum();
  }
  return {differ, compared};
}

}  // namespace

Status check_moe_keys(const ModelConfig& policy, bool routing_replay, double router_aux_loss_coef) {
  if (policy.moe.n_routed_experts > 0) return Status();
  if (routing_replay) return Status::error("routing_replay is set but the policy has no routed experts (not MoE)");
  if (router_aux_loss_coef != 0)
    return Status::error("router_aux_loss_coef is " + (std::ostringstream() << router_aux_loss_coef).str() +
                         " but the policy has no routed experts (not MoE): there is no auxiliary loss to weight");
  return Status();
}

Result<LearnerRouting> learner_routing(const std::vector<const Sample*>& rows, const PromptCompletionBatch& tokens,
                                       const ModelConfig& config, bool replay) {
  const int64_t per_token = config.moe.routes_per_token(config.num_hidden_layers);
  const int64_t layers = per_token / config.moe.num_experts_per_tok;
  R1_RETURN_IF_ERROR(check_routes(rows, per_token, replay));
  LearnerRouting r;
  r.forward.prompts.record = r.forward.completions.record = true;
  const at::Tensor& prompt_lengths = tokens.prompts.lengths;
  int64_t K = tokens.prompts.ids.size(0), P = tokens.prompts.ids.size(1);
  int64_t N = tokens.completions.ids.size(0), C = tokens.completions.ids.size(1);
  at::Tensor shared_by = at::bincount(tokens.prompt_of, {}, K).to(at::kFloat);  // completions per prompt
  r.prompt_weight = (at::arange(P, prompt_lengths.options()).unsqueeze(0) < prompt_lengths.unsqueeze(1)) *
                    shared_by.unsqueeze(1);
  r.completion_weight =
      (at::arange(C, prompt_lengths.options()).unsqueeze(0) < tokens.completions.lengths.unsqueeze(1)).to(at::kFloat);
  if (rows.empty() || rows[0]->routed_experts.empty()) return r;
  // The distinct prompts in order of first appearance, as the batch holds them.
  std::vector<const Sample*> first_of_prompt;
  {
    std::map<std::vector<int64_t>, size_t> seen;
    for (const Sample* s : rows)
      if (seen.emplace(s->prompt_ids, first_of_prompt.size()).second) first_of_prompt.push_back(s);
  }
  at::Tensor prompts = host_routes(
      K, P, per_token, [&](int64_t k) { return first_of_prompt[k]->routed_experts.data(); },
      [&](int64_t k) { return static_cast<int64_t>(first_of_prompt[k]->prompt_ids.size()); });
  at::Tensor completions = host_routes(
      N, C, per_token,
      [&](int64_t n) { return rows[n]->routed_experts.data() + rows[n]->prompt_ids.size() * per_token; },
      [&](int64_t n) { return std::max<int64_t>(0, static_cast<int64_t>(rows[n]->token_ids.size()) - 1); });
  at::Device device = tokens.completions.ids.device();
  r.sampler_prompts = per_layer(prompts, layers, device);
  r.sampler_completions = per_layer(completions, layers, device);
  if (replay) r.forward.prompts.replay = r.sampler_prompts, r.forward.completions.replay = r.sampler_completions;
  return r;
}

RoutingTerms routing_terms(const LearnerRouting& r, const MoeConfig& c) {
  const int64_t E = c.n_routed_experts, k = c.num_experts_per_tok;
  at::Tensor pw = r.prompt_weight.reshape({-1}), cw = r.completion_weight.reshape({-1});
  at::Tensor weight = at::cat({pw, cw});
  std::vector<at::Tensor> logits;
  at::Tensor load = at::zeros({E}, weight.options().dtype(at::kDouble));
  for (size_t m = 0; m < r.forward.prompts.router_logits.size(); ++m) {
    logits.push_back(at::cat({r.forward.prompts.router_logits[m].reshape({-1, E}),
                              r.forward.completions.router_logits[m].reshape({-1, E})}));
    at::Tensor own =
        at::cat({r.forward.prompts.chosen[m].reshape({-1, k}), r.forward.completions.chosen[m].reshape({-1, k})});
    load = load.scatter_add(0, own.reshape({-1}), weight.to(at::kDouble).unsqueeze(1).expand({-1, k}).reshape({-1}));
  }
  auto [prompt_differ, prompt_compared] = mismatch(r.forward.prompts.chosen, r.sampler_prompts, r.prompt_weight);
  auto [completion_differ, completion_compared] =
      mismatch(r.forward.completions.chosen, r.sampler_completions, r.completion_weight);
  at::Tensor tail = at::stack({prompt_differ + completion_differ, prompt_compared + completion_compared});
  return {load_balancing_loss(logits, k, weight), at::cat({load, tail})};
}

void add_routing_metrics(const at::Tensor& counts, std::map<std::string, double>& metrics) {
  at::Tensor host = counts.to(at::kCPU, at::kDouble).contiguous();
  const double* v = host.data_ptr<double>();
  const int64_t E = host.numel() - 2;
  double slots = 0, largest = 0;
  for (int64_t e = 0; e < E; ++e) slots += v[e], largest = std::max(largest, v[e]);
  if (slots > 0) {
    for (int64_t e = 0; e < E; ++e) metrics["moe/expert_load/" + std::to_string(e)] = v[e] / slots;
    metrics["moe/expert_load/max"] = largest / slots * static_cast<double>(E);
  }
  if (v[E + 1] > 0) metrics["moe/route_mismatch"] = v[E] / v[E + 1];
}

}  // namespace r1
