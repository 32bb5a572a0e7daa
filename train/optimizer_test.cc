#include "train/optimizer.h"

#include <gtest/gtest.h>
#include <torch/optim/adamw.h>

#include "model/model_presets.h"
#include "model/transformer.h"

namespace r1 {
namespace {

Transformer tiny_model(uint64_t seed, at::ScalarType dtype = at::kFloat) {
  ModelConfig c = *preset_config(ModelFamily::qwen2, "tiny");  // has q/k/v biases
  c.vocab_size = 48;
  Transformer m = Transformer::random(c, seed);
  if (dtype != at::kFloat) {
    TensorMap t;
    for (const auto& [n, w] : m.tensors()) t[n] = w.to(dtype);
    m = *Transformer::from_tensors(c, t, {dtype, true});
  }
  for (const auto& [n, t] : m.tensors()) t.set_requires_grad(true);
  return m;
}

// A scalar loss with non-trivial gradients for every tensor.
at::Tensor toy_loss(const Transformer& m, int64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor ids = at::randint(0, 48, {2, 7}, gen);
  at::Tensor pos = at::arange(7).unsqueeze(0).expand({2, 7});
  at::Tensor allowed = at::ones({7, 7}, at::kBool).tril().unsqueeze(0).expand({2, 7, 7});
  at::Tensor logits = m.lm_head(m.forward(ids, pos, allowed)).to(at::kFloat);
  return at::cross_entropy_loss(logits.reshape({-1, 48}).narrow(0, 0, 13), ids.reshape({-1}).narrow(0, 1, 13));
}

TEST(AdamW, WeightDecaySkipsNormsAndBiases) {
  EXPECT_TRUE(decays_weight("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(decays_weight("model.embed_tokens.weight"));
  EXPECT_FALSE(decays_weight("model.layers.0.self_attn.q_proj.bias"));
  EXPECT_FALSE(decays_weight("model.layers.0.input_layernorm.weight"));
  EXPECT_FALSE(decays_weight("model.layers.0.self_attn.q_norm.weight"));
  EXPECT_FALSE(decays_weight("model.norm.weight"));
  EXPECT_FALSE(decays_weight("model.layers.3.mlp.gate.e_score_correction_bias"));  // DeepSeek's routing offset
  EXPECT_TRUE(decays_weight("model.layers.3.mlp.gate.weight"));
}

TEST(AdamW, FirstStepMatchesTheFormula) {
  Transformer m = tiny_model(1);
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW opt(m, o);
  toy_loss(m, 5).backward();
  const std::string w = "model.layers.0.mlp.up_proj.weight", b = "model.layers.0.self_attn.q_proj.bias";
  at::Tensor w0 = m.tensors().at(w).detach().clone(), gw = m.tensors().at(w).grad().clone();
  at::Tensor b0 = m.tensors().at(b).detach().clone(), gb = m.tensors().at(b).grad().clone();
  double lr = 1e-2;
  opt.step(lr);
  // Step 1: bias-corrected m/v are g and g^2, so the update is lr * g / (|g| + eps).
  at::Tensor want_w = w0 * (1 - lr * 0.1) - lr * gw / (gw.abs() + o.eps);
  at::Tensor want_b = b0 - lr * gb / (gb.abs() + o.eps);
  EXPECT_TRUE(at::allclose(m.tensors().at(w).detach(), want_w, 1e-6, 1e-7));
  EXPECT_TRUE(at::allclose(m.tensors().at(b).detach(), want_b, 1e-6, 1e-7));
  EXPECT_FALSE(m.tensors().at(w).grad().defined());  // step clears gradients
  EXPECT_EQ(opt.steps_taken(), 1);
}

TEST(AdamW, MatchesTorchOptimAdamWOverSeveralSteps) {
  Transformer m = tiny_model(2);
  Transformer ref = tiny_model(2);
  AdamWOptions o;
  o.weight_decay = 0.05;
  o.beta2 = 0.95;
  AdamW opt(m, o);
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& [n, t] : ref.tensors()) (decays_weight(n) ? decay : no_decay).push_back(t);
  auto group_opts = [&](double wd) {
    auto g = std::make_unique<torch::optim::AdamWOptions>(3e-3);
    g->betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(wd);
    return g;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, group_opts(o.weight_decay));
  groups.emplace_back(no_decay, group_opts(0.0));
  torch::optim::AdamW torch_opt(groups, torch::optim::AdamWOptions(3e-3));
  for (int step = 0; step < 4; ++step) {
    // Both optimizers get the same gradients: Adam divides each gradient by
    // its own magnitude, so rounding noise of two separate backward passes
    // (the key bias's true gradient is zero) would be compared otherwise.
    toy_loss(m, 10 + step).backward();
    for (const auto& [n, t] : m.tensors()) ref.tensors().at(n).mutable_grad() = t.grad().clone();
    opt.step(3e-3);
    torch_opt.step();
  }
  for (const auto& [n, t] : m.tensors()) {
    at::Tensor theirs = ref.tensors().at(n).detach();
    EXPECT_TRUE(at::allclose(t.detach(), theirs, 1e-5, 1e-7))
        << n << ": max |diff| " << (t.detach() - theirs).abs().max().item<double>();
  }
}

TEST(AdamW, ClipReturnsThePreClipNormAndScalesToMaxNorm) {
  Transformer m = tiny_model(3);
  AdamW opt(m, {});
  toy_loss(m, 7).backward();
  double sq = 0;
  for (const auto& [n, t] : m.tensors()) sq += t.grad().pow(2).sum().item<double>();
  double norm = opt.clip_grad_norm(1e-3);
  EXPECT_NEAR(norm, std::sqrt(sq), 1e-5 * std::sqrt(sq));
  ASSERT_GT(norm, 1e-3);
  double after = 0;
  for (const auto& [n, t] : m.tensors()) after += t.grad().pow(2).sum().item<double>();
  EXPECT_NEAR(std::sqrt(after), 1e-3, 1e-6);
  EXPECT_NEAR(opt.clip_grad_norm(0.0), 1e-3, 1e-6);  // measuring only
}

TEST(AdamW, Bf16WeightsFollowFp32Masters) {
  Transformer m = tiny_model(4, at::kBFloat16);
  AdamW opt(m, {});
  toy_loss(m, 9).backward();
  opt.step(1e-3);
  TensorMap state = opt.state_tensors();
  const std::string w = "model.layers.1.mlp.down_proj.weight";
  ASSERT_TRUE(state.count(w + ".master"));
  EXPECT_EQ(state.at(w + ".master").scalar_type(), at::kFloat);
  EXPECT_EQ(m.tensors().at(w).scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(m.tensors().at(w).detach(), state.at(w + ".master").to(at::kBFloat16)));
}

// ZeRO stage 1's share (train/zero.h): rank 0 of two keeps state for, and
// steps, the tensors it owns only, exactly as the unsharded optimizer does;
// the others stay as they were (their owner's broadcast brings them), and
// the global norm counts every gradient.
TEST(AdamW, AShardStepsOnlyItsOwnTensorsAsTheWholeOptimizerDoes) {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    Transformer whole_model = tiny_model(3, dtype), shard_model = tiny_model(3, dtype);
    std::vector<int> owner;
    for (size_t i = 0; i < shard_model.tensors().size(); ++i) owner.push_back(static_cast<int>(i % 2));
    AdamW whole(whole_model, {.weight_decay = 0.1}), shard(shard_model, {.weight_decay = 0.1, .owner = owner});
    ASSERT_TRUE(shard.sharded());
    TensorMap before;
    for (const auto& [n, t] : shard_model.tensors()) before[n] = t.detach().clone();
    toy_loss(whole_model, 5).backward();
    toy_loss(shard_model, 5).backward();
    TensorMap grads;
    for (const auto& [n, t] : shard_model.tensors()) grads[n] = t.grad().clone();
    EXPECT_EQ(shard.clip_grad_norm(0.5), whole.clip_grad_norm(0.5));
    // Only the gradients it steps are clipped (the norm takes the others' one
    // at a time, never copying them all to fp32 at once).
    size_t k = 0;
    for (const auto& [n, t] : shard_model.tensors())
      if (owner[k++] != 0) EXPECT_TRUE(at::equal(t.grad(), grads.at(n))) << n;
    whole.step(1e-2);
    shard.step(1e-2);
    size_t i = 0, mine = 0;
    for (const auto& [n, t] : shard_model.tensors()) {
      const bool owned = owner[i++] == 0;
      mine += owned;
      EXPECT_TRUE(at::equal(t, owned ? whole_model.tensors().at(n) : before.at(n))) << n;
    }
    EXPECT_EQ(shard.tensors_of(0).size(), mine);
    EXPECT_EQ(shard.tensors_of(0).size() + shard.tensors_of(1).size(), owner.size());
    // Its state: the whole optimizer's for its tensors; rank 1's as buffers
    // of the same names and shapes, to receive it into.
    TensorMap all = whole.state_tensors(), own = shard.state_tensors(), other = shard.state_of(1);
    EXPECT_EQ(own.size() + other.size(), all.size());
    for (const auto& [name, t] : own) EXPECT_TRUE(at::equal(t, all.at(name))) << name;
    for (const auto& [name, t] : other) EXPECT_EQ(t.sizes(), all.at(name).sizes()) << name;
    // A whole checkpoint's state restores a shard.
    AdamW restored(shard_model, {.owner = owner});
    ASSERT_TRUE(restored.load_state(all, whole.steps_taken(), "optimizer.safetensors").ok());
    for (const auto& [name, t] : restored.state_tensors()) EXPECT_TRUE(at::equal(t, all.at(name))) << name;
  }
  Transformer m = tiny_model(1);
  EXPECT_THROW(AdamW(m, {.owner = {0, 1}}), Error);  // an owner per tensor
}

TEST(AdamW, RefusesTensorsWithoutGrad) {
  ModelConfig c = *preset_config(ModelFamily::llama, "tiny");
  c.vocab_size = 32;
  Transformer m = Transformer::random(c, 1);
  EXPECT_THROW(AdamW(m, {}), Error);
}

}  // namespace
}  // namespace r1
