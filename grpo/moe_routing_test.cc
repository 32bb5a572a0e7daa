#include "grpo/moe_routing.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "grpo/learner.h"
#include "model/generate.h"
#include "model/test_models.h"

namespace r1 {
namespace {

Transformer tiny_moe(uint64_t seed) {
  return tiny_random_model(32, 0.2, seed, /*trainable=*/true, ModelFamily::deepseek_v3);
}

const char* kBias = "model.layers.1.mlp.gate.e_score_correction_bias";  // the tiny preset's one MoE layer

// Two samples of each of three prompts, with the sampler's routes.
std::vector<Sample> sampled(const Transformer& m) {
  std::vector<RolloutPrompt> prompts = {{0, {1, 2, 3, 4, 5}}, {1, {6, 7}}, {2, {8, 9, 10, 11}}};
  GenerationOptions o;
  o.num_samples = 2, o.max_new_tokens = 6, o.seed = 5, o.record_routes = true;
  std::vector<Sample> out = value_or_throw(generate(m, prompts, o));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].prompt_ids = prompts[out[i].prompt_index].prompt_ids;
    out[i].advantage = i % 2 ? 1.0 : -1.0;
  }
  return out;
}

// The policy's log-probs of the samples' completions and the routing terms.
struct Scored {
  at::Tensor logprobs;  // [N, C]
  RoutingTerms terms;
};

Scored score(const Transformer& m, const std::vector<Sample>& samples, bool replay) {
  std::vector<std::vector<int64_t>> prompts, completions;
  std::vector<const Sample*> rows;
  for (const Sample& s : samples)
    prompts.push_back(s.prompt_ids), completions.push_back(s.token_ids), rows.push_back(&s);
  PromptCompletionBatch batch = make_prompt_completion_batch(prompts, completions);
  LearnerRouting routing = value_or_throw(learner_routing(rows, batch, m.config(), replay));
  at::NoGradGuard no_grad;
  at::Tensor logprobs = completion_logprobs(m, batch, 1.0, nullptr, &routing.forward);
  return {logprobs, routing_terms(routing, m.config().moe)};
}

double mismatch(const RoutingTerms& t) {
  int64_t E = t.counts.size(0) - 2;
  return t.counts[E].item<double>() / t.counts[E + 1].item<double>();
}

// The largest gap between the scored log-probs and the sampler's.
double gap_to_sampler(const at::Tensor& logprobs, const std::vector<Sample>& samples) {
  double gap = 0;
  for (size_t n = 0; n < samples.size(); ++n)
    for (size_t t = 0; t < samples[n].logprobs.size(); ++t)
      gap = std::max(gap, std::abs(logprobs[n][t].item<double>() - samples[n].logprobs[t]));
  return gap;
}

TEST(MoeRouting, TheSamplerRecordsEveryFedTokensRoutesAndTheLearnerRoutesAlike) {
  Transformer m = tiny_moe(1);
  std::vector<Sample> samples = sampled(m);
  const int64_t per_token = m.config().moe.routes_per_token(m.config().num_hidden_layers);
  ASSERT_EQ(per_token, 2);  // one MoE layer, top-2
  for (const Sample& s : samples) {
    EXPECT_EQ(s.routed_experts.size(), (s.prompt_ids.size() + s.token_ids.size() - 1) * per_token);
    for (int16_t e : s.routed_experts) EXPECT_TRUE(e >= 0 && e < m.config().moe.n_routed_experts);
  }
  Scored own = score(m, samples, /*replay=*/false);
  EXPECT_EQ(mismatch(own.terms), 0.0);  // the same weights route the same way
  EXPECT_LT(gap_to_sampler(own.logprobs, samples), 1e-4);
}

// A learner whose router selects differently (another score-correction bias,
// which steers selection but not the weights): without replay its routes and
// log-probs leave the sampler's; with replay its log-probs are the sampler's.
TEST(MoeRouting, WithReplayTheLearnersRoutesAreTheSamplers) {
  Transformer sampler = tiny_moe(2);
  std::vector<Sample> samples = sampled(sampler);
  TensorMap tensors = sampler.tensors();
  tensors[kBias] = at::normal(0.0, 1.0, tensors[kBias].sizes(), at::detail::createCPUGenerator(3));
  Transformer learner = value_or_throw(Transformer::from_tensors(sampler.config(), tensors));

  Scored own = score(learner, samples, /*replay=*/false);
  EXPECT_GT(mismatch(own.terms), 0.2);
  EXPECT_GT(gap_to_sampler(own.logprobs, samples), 1e-2);
  Scored replayed = score(learner, samples, /*replay=*/true);
  EXPECT_EQ(mismatch(replayed.terms), mismatch(own.terms));  // the metric compares the router's own choice
  EXPECT_LT(gap_to_sampler(replayed.logprobs, samples), 1e-4);
}

TEST(MoeRouting, TheLearnerAddsTheWeightedBalancingLossAndReportsTheRouting) {
  Transformer m = tiny_moe(4);
  std::vector<Sample> samples = sampled(m);
  LearnerOptions o;
  o.micro_batch_size = 2;  // 3 micro-batches: the loss adds coef * aux / 3 per micro-batch
  o.streams = 1;
  LearnerStepStats plain = value_or_throw(accumulate_policy_gradients(m, nullptr, samples, o));
  o.router_aux_loss_coef = 0.5;
  o.routing_replay = true;
  LearnerStepStats weighted = value_or_throw(accumulate_policy_gradients(m, nullptr, samples, o));
  double aux = weighted.metrics.at("moe/aux_loss");
  EXPECT_GT(aux, 0.0);
  EXPECT_NEAR(plain.metrics.at("moe/aux_loss"), aux, 1e-6);
  EXPECT_NEAR(weighted.loss - plain.loss, 0.5 * aux, 1e-5);
  EXPECT_EQ(weighted.metrics.at("moe/route_mismatch"), 0.0);
  double shares = 0;
  for (int64_t e = 0; e < m.config().moe.n_routed_experts; ++e)
    shares += weighted.metrics.at("moe/expert_load/" + std::to_string(e));
  EXPECT_NEAR(shares, 1.0, 1e-9);
  EXPECT_GE(weighted.metrics.at("moe/expert_load/max"), 1.0);
}

TEST(MoeRouting, BadOptionsAndMissingRoutesAreClearErrors) {
  Transformer m = tiny_moe(5);
  std::vector<Sample> samples = sampled(m);
  LearnerOptions o;
  o.routing_replay = true;
  samples[1].routed_experts.pop_back();
  auto r = accumulate_policy_gradients(m, nullptr, samples, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("sample of prompt 0 (sample 1) carries"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("routing_replay needs the sampler's routes"), std::string::npos);
  for (Sample& s : samples) s.routed_experts.clear();
  r = accumulate_policy_gradients(m, nullptr, samples, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("carries 0 routed experts"), std::string::npos) << r.status().message();
  o.routing_replay = false;  // without replay, samples without routes are fine (no mismatch metric)
  LearnerStepStats stats = value_or_throw(accumulate_policy_gradients(m, nullptr, samples, o));
  EXPECT_EQ(stats.metrics.count("moe/route_mismatch"), 0u);

  Transformer dense = tiny_random_model(32, 0.2, 6, true);
  o.router_aux_loss_coef = 0.1;
  r = accumulate_policy_gradients(dense, nullptr, samples, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("router_aux_loss_coef is 0.1"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace r1
