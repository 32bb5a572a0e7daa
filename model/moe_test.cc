#include "model/moe.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>

#include "model/layer_ops.h"

namespace r1 {
namespace {

MoeConfig v3_routing(int64_t experts, int64_t top_k, int64_t groups, int64_t topk_groups) {
  MoeConfig c;
  c.n_routed_experts = experts, c.num_experts_per_tok = top_k, c.n_shared_experts = 1;
  c.moe_intermediate_size = 8, c.routed_scaling_factor = 2.5, c.norm_topk_prob = true;
  c.scoring_func = "sigmoid", c.topk_method = "noaux_tc", c.n_group = groups, c.topk_group = topk_groups;
  return c;
}

MoeWeights random_weights(const MoeConfig& c, int64_t hidden, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto draw = [&](std::vector<int64_t> shape) { return at::normal(0.0, 0.3, shape, gen).requires_grad_(true); };
  int64_t f = c.moe_intermediate_size;
  MoeWeights w;
  w.router = draw({c.n_routed_experts, hidden});
  w.score_bias = at::normal(0.0, 0.1, {c.n_routed_experts}, gen);
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    w.gate_proj.push_back(draw({f, hidden}));
    w.up_proj.push_back(draw({f, hidden}));
    w.down_proj.push_back(draw({hidden, f}));
  }
  w.shared_gate = draw({f, hidden}), w.shared_up = draw({f, hidden}), w.shared_down = draw({hidden, f});
  return w;
}

std::vector<at::Tensor> trained(const MoeWeights& w) {
  std::vector<at::Tensor> out = {w.router, w.shared_gate, w.shared_up, w.shared_down};
  for (size_t e = 0; e < w.gate_proj.size(); ++e) out.insert(out.end(), {w.gate_proj[e], w.up_proj[e], w.down_proj[e]});
  return out;
}

// The MoE layer token by token, expert by expert: the reference the grouped products must equal.
at::Tensor per_token_reference(const MoeWeights& w, const MoeConfig& c, const at::Tensor& x) {
  ExpertChoice choice = route_tokens(w, c, x);
  std::vector<at::Tensor> rows;
  for (int64_t t = 0; t < x.size(0); ++t) {
    at::Tensor token = x.narrow(0, t, 1);
    at::Tensor y = swiglu(token, w.shared_gate, w.shared_up, w.shared_down);
    for (int64_t j = 0; j < c.num_experts_per_tok; ++j) {
      int64_t e = choice.experts[t][j].item<int64_t>();
      y = y + choice.weights[t][j] * swiglu(token, w.gate_proj[e], w.up_proj[e], w.down_proj[e]);
    }
    rows.push_back(y);
  }
  return at::cat(rows);
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(Moe, GroupedExpertsEqualAPerTokenLoopInValueAndGradients) {
  MoeConfig c = v3_routing(8, 3, 4, 2);
  const int64_t hidden = 16;
  MoeWeights w = random_weights(c, hidden, 3);
  at::Tensor x = at::normal(0.0, 1.0, {2, 11, hidden}, at::detail::createCPUGenerator(5)).requires_grad_(true);
  at::Tensor upstream = at::normal(0.0, 1.0, {2, 11, hidden}, at::detail::createCPUGenerator(6));

  at::Tensor grouped = moe_block(w, c, x);
  (grouped * upstream).sum().backward();
  std::vector<at::Tensor> grouped_grads = {x.grad().clone()};
  for (auto& t : trained(w)) grouped_grads.push_back(t.grad().clone()), t.mutable_grad().reset();
  x.mutable_grad().reset();

  at::Tensor reference = per_token_reference(w, c, x.view({-1, hidden})).view(x.sizes());
  (reference * upstream).sum().backward();
  std::vector<at::Tensor> reference_grads = {x.grad()};
  for (auto& t : trained(w)) reference_grads.push_back(t.grad().defined() ? t.grad() : at::zeros_like(t));

  EXPECT_LT(max_diff(grouped, reference), 1e-5);
  ASSERT_EQ(grouped_grads.size(), reference_grads.size());
  for (size_t i = 0; i < grouped_grads.size(); ++i)
    EXPECT_LT(max_diff(grouped_grads[i], reference_grads[i]), 1e-5) << i;
  EXPECT_GT(w.router.grad().abs().sum().item<double>(), 0.0);  // the routing weights pass gradient to the router
}

TEST(Moe, StackedExpertsOverPaddedGroupsEqualPerExpertProducts) {
  MoeConfig c = v3_routing(8, 2, 1, 1);
  MoeWeights w = random_weights(c, 16, 9);
  MoeWeights stacked = w;
  stack_experts(stacked);
  at::NoGradGuard no_grad;
  for (int64_t tokens : {1, 3, 40}) {  // 40 tokens over 8 experts: balanced enough for the padded groups
    at::Tensor x = at::normal(0.0, 1.0, {tokens, 16}, at::detail::createCPUGenerator(tokens));
    ExpertChoice choice = route_tokens(w, c, x);
    EXPECT_LT(max_diff(routed_experts(w, x, choice), routed_experts(stacked, x, choice)), 1e-5) << tokens;
  }
}

// Router logits set directly: x = I, router = the logits as columns.
ExpertChoice route_logits(const MoeConfig& c, const std::vector<float>& logits, const std::vector<float>& bias) {
  MoeWeights w;
  int64_t E = static_cast<int64_t>(logits.size());
  w.router = at::tensor(logits).view({E, 1});
  w.score_bias = at::tensor(bias);
  return route_tokens(w, c, at::ones({1, 1}));
}

std::vector<int64_t> sorted_experts(const ExpertChoice& choice) {
  at::Tensor e = std::get<0>(choice.experts[0].sort());
  return std::vector<int64_t>(e.data_ptr<int64_t>(), e.data_ptr<int64_t>() + e.numel());
}

double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

TEST(Moe, V3GroupLimitedRoutingPicksTheGroupWithTheBestTwoExperts) {
  MoeConfig c = v3_routing(4, 2, 2, 1);
  // Expert 0 scores best, but group {2, 3} has the better two-expert sum.
  ExpertChoice choice = route_logits(c, {2.0f, -1.0f, 0.5f, 0.4f}, {0, 0, 0, 0});
  EXPECT_EQ(sorted_experts(choice), (std::vector<int64_t>{2, 3}));
  double total = sigmoid(0.5) + sigmoid(0.4);
  at::Tensor w = std::get<0>(choice.weights[0].sort());
  EXPECT_NEAR(w[0].item<double>(), 2.5 * sigmoid(0.4) / total, 1e-6);
  EXPECT_NEAR(w[1].item<double>(), 2.5 * sigmoid(0.5) / total, 1e-6);
}

TEST(Moe, V3BiasSteersSelectionButNotTheWeights) {
  MoeConfig c = v3_routing(4, 1, 1, 1);
  c.norm_topk_prob = false, c.routed_scaling_factor = 1.0;
  ExpertChoice choice = route_logits(c, {1.0f, 0.0f, 0.0f, 0.0f}, {0, 0, 0, 2.0f});
  EXPECT_EQ(sorted_experts(choice), (std::vector<int64_t>{3}));
  EXPECT_NEAR(choice.weights[0][0].item<double>(), sigmoid(0.0), 1e-6);
}

TEST(Moe, V2SoftmaxGroupLimitedGreedyUsesEachGroupsBestExpert) {
  MoeConfig c;
  c.n_routed_experts = 4, c.num_experts_per_tok = 2, c.scoring_func = "softmax";
  c.topk_method = "group_limited_greedy", c.n_group = 2, c.topk_group = 1, c.routed_scaling_factor = 1.0;
  // Group {0, 1} holds the single best expert; V3's two-best sum would pick the other group.
  std::vector<float> logits = {2.0f, -3.0f, 1.5f, 1.4f};
  ExpertChoice choice = route_logits(c, logits, {});
  EXPECT_EQ(sorted_experts(choice), (std::vector<int64_t>{0, 1}));
  at::Tensor p = at::softmax(at::tensor(logits), 0);
  at::Tensor w = std::get<0>(choice.weights[0].sort());
  EXPECT_NEAR(w[0].item<double>(), p[1].item<double>(), 1e-6);
  EXPECT_NEAR(w[1].item<double>(), p[0].item<double>(), 1e-6);
}

TEST(Moe, ReplayRoutesTokensToTheGivenExpertsWithTheRoutersWeights) {
  MoeConfig c = v3_routing(8, 2, 4, 2);
  MoeWeights w = random_weights(c, 16, 4);
  at::Tensor x = at::normal(0.0, 1.0, {3, 16}, at::detail::createCPUGenerator(8));
  ExpertChoice own = route_tokens(w, c, x);
  // Token 0 and 2 replay experts the router did not choose; token 1 keeps its own (-1).
  at::Tensor replay = at::tensor({5, 6, -1, -1, 0, 7}, at::kLong).view({3, 2});
  for (int64_t t : {0, 2}) ASSERT_FALSE(at::equal(std::get<0>(own.experts[t].sort()), std::get<0>(replay[t].sort())));
  ExpertChoice replayed = route_tokens(w, c, x, replay);
  EXPECT_TRUE(at::equal(replayed.experts[0], replay[0]));
  EXPECT_TRUE(at::equal(replayed.experts[1], own.experts[1]));
  EXPECT_TRUE(at::equal(replayed.experts[2], replay[2]));
  EXPECT_TRUE(at::equal(replayed.own, own.experts));  // the router's own choice stays visible
  // The weights: the router's sigmoid scores of the replayed experts, normalised and scaled.
  at::Tensor scores = at::linear(x, w.router).sigmoid();
  for (int64_t t = 0; t < 3; ++t) {
    at::Tensor s = scores[t].index_select(0, replayed.experts[t]);
    EXPECT_LT(max_diff(replayed.weights[t], 2.5 * s / s.sum()), 1e-6) << t;
  }
  replayed.weights.sum().backward();
  EXPECT_GT(w.router.grad().abs().sum().item<double>(), 0.0);
}

// transformers' load_balancing_loss_func written out token by token.
double switch_loss_reference(const std::vector<at::Tensor>& logits, int64_t k) {
  int64_t E = logits[0].size(1);
  std::vector<double> slots(E, 0.0), probability(E, 0.0);
  double rows = 0;
  for (const at::Tensor& layer : logits)
    for (int64_t t = 0; t < layer.size(0); ++t, ++rows) {
      at::Tensor p = layer[t].to(at::kDouble).softmax(0);
      at::Tensor top = std::get<1>(p.topk(k));
      for (int64_t j = 0; j < k; ++j) slots[top[j].item<int64_t>()] += 1;
      for (int64_t e = 0; e < E; ++e) probability[e] += p[e].item<double>();
    }
  double loss = 0;
  for (int64_t e = 0; e < E; ++e) loss += slots[e] / rows * probability[e] / rows;
  return loss * E;
}

TEST(Moe, LoadBalancingLossIsTheSwitchTransformerLossAndWeightsCountTokens) {
  at::Generator gen = at::detail::createCPUGenerator(11);
  std::vector<at::Tensor> logits = {at::normal(0.0, 1.0, {5, 6}, gen), at::normal(0.0, 1.0, {5, 6}, gen)};
  at::Tensor ones = at::ones({5});
  EXPECT_NEAR(load_balancing_loss(logits, 2, ones).item<double>(), switch_loss_reference(logits, 2), 1e-6);
  // Weight 0 drops a token (padding); weight 2 counts it twice (a prompt two completions share).
  at::Tensor weight = at::tensor({1.0f, 0.0f, 2.0f, 1.0f, 1.0f});
  std::vector<at::Tensor> expanded;
  for (const at::Tensor& l : logits)
    expanded.push_back(at::cat({l.narrow(0, 0, 1), l[2].unsqueeze(0), l.narrow(0, 2, 3)}));
  EXPECT_NEAR(load_balancing_loss(logits, 2, weight).item<double>(), switch_loss_reference(expanded, 2), 1e-6);
}

}  // namespace
}  // namespace r1
