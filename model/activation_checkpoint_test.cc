#include "model/activation_checkpoint.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>

#include <set>

#include "model/scoring.h"
#include "model/test_models.h"

namespace r1 {
namespace {

const std::vector<std::vector<int64_t>> kPrompts = {{1, 2, 3, 4}, {5, 6}, {1, 2, 3, 4}, {7}};
const std::vector<std::vector<int64_t>> kCompletions = {{8, 9, 10}, {11}, {12, 13, 14, 15, 16}, {17, 18}};

// Whether the graph behind `t` holds a checkpointed layer.
bool has_checkpoint(const at::Tensor& t) {
  std::vector<torch::autograd::Node*> todo = {t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  while (!todo.empty()) {
    torch::autograd::Node* node = todo.back();
    todo.pop_back();
    if (!node || !seen.insert(node).second) continue;
    if (node->name().find("Checkpoint") != std::string::npos) return true;
    for (const auto& edge : node->next_edges()) todo.push_back(edge.function.get());
  }
  return false;
}

// The gradient of every weight of a loss that weighs each token differently.
// Prompt-shared scoring (prompt keys/values reused by the completions) plus
// plain scoring of whole sequences, padding-free scoring, and for MoE the router's balancing loss
// from recorded logits, with half the completions' routes replayed.
std::vector<at::Tensor> gradients(const Transformer& m, bool* checkpointed) {
  for (auto& t : m.parameters()) t.mutable_grad() = at::Tensor();
  PromptCompletionBatch batch = make_prompt_completion_batch(kPrompts, kCompletions);
  PromptCompletionRouting routing;
  routing.prompts.record = routing.completions.record = true;
  const MoeConfig& moe = m.config().moe;
  if (moe.n_routed_experts > 0) {
    at::Tensor replay = at::randint(moe.n_routed_experts, {4, 5, moe.num_experts_per_tok},
                                    at::detail::createCPUGenerator(3));
    replay.narrow(0, 0, 2).fill_(-1);  // the first two completions keep their router's choice
    routing.completions.replay = {replay};
  }
  at::Tensor shared = completion_logprobs(m, batch, 0.8, nullptr, &routing);
  at::Tensor plain = next_token_logprobs(m, make_token_batch(kCompletions));
  at::Tensor padding_free = completion_logprobs(m, batch, 1.0);  // no routing: packed
  at::Tensor loss = (shared * at::linspace(-1.0, 2.0, shared.numel()).view(shared.sizes())).sum() +
                    (plain * at::linspace(0.5, -1.5, plain.numel()).view(plain.sizes())).sum() +
                    (padding_free * at::linspace(1.0, -0.5, padding_free.numel()).view(padding_free.sizes())).sum();
  if (moe.n_routed_experts > 0)
    loss = loss + 3.0 * load_balancing_loss(routing.completions.router_logits, moe.num_experts_per_tok,
                                            at::ones({4 * 5}));
  *checkpointed = has_checkpoint(loss);
  loss.backward();
  std::vector<at::Tensor> grads;
  for (const auto& t : m.parameters()) grads.push_back(t.grad().defined() ? t.grad().clone() : at::Tensor());
  return grads;
}

class ActivationCheckpoint : public ::testing::TestWithParam<ModelFamily> {};

TEST_P(ActivationCheckpoint, GivesTheSameGradients) {
  Transformer m = tiny_random_model(32, 0.2, 7, /*trainable=*/true, GetParam());
  bool checkpointed = true;
  std::vector<at::Tensor> kept = gradients(m, &checkpointed);
  EXPECT_FALSE(checkpointed);
  m.set_gradient_checkpointing(true);
  std::vector<at::Tensor> recomputed = gradients(m, &checkpointed);
  EXPECT_TRUE(checkpointed);
  ASSERT_EQ(kept.size(), recomputed.size());
  size_t compared = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    ASSERT_EQ(kept[i].defined(), recomputed[i].defined()) << i;
    if (!kept[i].defined()) continue;
    EXPECT_LE((kept[i] - recomputed[i]).abs().max().item<double>(), 1e-6 * kept[i].abs().max().item<double>() + 1e-9)
        << "tensor " << i;
    compared += kept[i].abs().sum().item<double>() > 0;
  }
  EXPECT_GT(compared, kept.size() / 2);  // most weights get a gradient
}

INSTANTIATE_TEST_SUITE_P(Families, ActivationCheckpoint,
                         ::testing::Values(ModelFamily::qwen2, ModelFamily::qwen3, ModelFamily::deepseek_v3),
                         [](const auto& info) { return std::string(model_family_name(info.param)); });

// The reentrant checkpoint runs a layer without grad, then again with grad
// for the backward; the backward is exact only if both runs give the same
// bits. So no kernel choice may depend on grad mode, in any dtype.
TEST(ActivationCheckpoint, ForwardIsTheSameWithAndWithoutGrad) {
  const Transformer fp32 = tiny_random_model(32, 0.2, 9);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    Transformer m = value_or_throw(Transformer::from_tensors(fp32.config(), fp32.tensors(),
                                                             {.dtype = dtype, .trainable = true}));
    PromptCompletionBatch batch = make_prompt_completion_batch(kPrompts, kCompletions);
    at::Tensor with_grad = completion_logprobs(m, batch, 1.0);
    ASSERT_TRUE(with_grad.requires_grad());
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(with_grad.detach(), completion_logprobs(m, batch, 1.0))) << dtype;
  }
}

// Without grad (scoring, decoding) the flag changes nothing.
TEST(ActivationCheckpointNoGrad, LeavesInferenceAlone) {
  Transformer m = tiny_random_model(32, 0.2, 8, /*trainable=*/true);
  at::NoGradGuard no_grad;
  at::Tensor before = next_token_logprobs(m, make_token_batch(kCompletions));
  m.set_gradient_checkpointing(true);
  EXPECT_TRUE(at::equal(before, next_token_logprobs(m, make_token_batch(kCompletions))));
}

}  // namespace
}  // namespace r1
