#include "model/mla_attention.h"

#include <gtest/gtest.h>

#include <limits>
#include <tuple>

#include "model/layer_ops.h"
#include "model/model_presets.h"
#include "model/scoring.h"
#include "model/transformer.h"

namespace r1 {
namespace {

// The deepseek_v3 `tiny` preset (no q-LoRA, paired rope dims), or with
// q-LoRA, half-split rope dims and YaRN.
ModelConfig tiny_deepseek(bool q_lora_and_yarn) {
  ModelConfig c = value_or_throw(preset_config(ModelFamily::deepseek_v3, "tiny"));
  c.vocab_size = 40;
  c.initializer_range = 0.2;
  c.max_position_embeddings = 64;
  if (q_lora_and_yarn) {
    c.mla.q_lora_rank = 24;
    c.mla.rope_interleave = false;
    c.rope_scaling.type = "yarn";
    c.rope_scaling.factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 16;
    c.rope_scaling.mscale = c.rope_scaling.mscale_all_dim = 0.7;
  }
  return c;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

at::Tensor causal(int64_t L) { return at::ones({L, L}, at::kBool).tril().unsqueeze(0); }

class MlaTest : public ::testing::TestWithParam<bool> {};

// One MLA layer of a random model, its weights trainable, on random inputs.
struct MlaLayer {
  ModelConfig c;
  MlaWeights w;
  at::Tensor x, cos, sin, mask;

  at::Tensor run(MlaForm form) const { return mla_attention(w, c, 0, x, cos, sin, mask, {}, form); }
};

MlaLayer mla_layer(bool q_lora_and_yarn) {
  MlaLayer l;
  l.c = tiny_deepseek(q_lora_and_yarn);
  const ModelConfig& c = l.c;
  Transformer m = Transformer::random(c, 3);
  auto get = [&](const std::string& n) {
    auto it = m.tensors().find(n);
    return it == m.tensors().end() ? at::Tensor() : it->second.requires_grad_(true);
  };
  l.w = bind_mla(get, "model.layers.0.");
  int64_t B = 2, L = 7, H = c.num_attention_heads;
  l.x = at::normal(0.0, 1.0, {B, L, c.hidden_size}, at::detail::createCPUGenerator(4)).requires_grad_(true);
  at::Tensor freqs = at::arange(L, at::kFloat).view({1, 1, L, 1}) * rope_inverse_frequencies(c);
  std::tie(l.cos, l.sin) = rope_tables(freqs.expand({B, 1, L, c.head_dim / 2}), rope_attention_factor(c), at::kFloat);
  at::Tensor blocked = causal(L).logical_not().repeat({1, H, 1}).unsqueeze(1).expand({B, 1, H * L, L});
  l.mask = at::zeros(blocked.sizes()).masked_fill(blocked, -std::numeric_limits<float>::infinity());
  return l;
}

TEST_P(MlaTest, AbsorbedFormEqualsExpandedForm) {
  MlaLayer l = mla_layer(GetParam());
  at::Tensor expanded = l.run(MlaForm::kExpanded), absorbed = l.run(MlaForm::kAbsorbed);
  EXPECT_LT(max_diff(expanded, absorbed), 1e-5);
  EXPECT_GT(expanded.abs().max().item<double>(), 1e-2);
}

// The learner may take either form (teacher forcing after a shared prompt
// often takes the absorbed one): their gradients must agree too.
TEST_P(MlaTest, AbsorbedAndExpandedFormsHaveEqualGradients) {
  MlaLayer l = mla_layer(GetParam());
  at::Tensor upstream = at::normal(0.0, 1.0, l.x.sizes(), at::detail::createCPUGenerator(8));
  std::vector<at::Tensor> trained = {l.x, l.w.kv_b_proj, l.w.kv_a_proj, l.w.o_proj};
  std::vector<std::vector<at::Tensor>> grads;
  for (MlaForm form : {MlaForm::kExpanded, MlaForm::kAbsorbed}) {
    for (auto& t : trained) t.mutable_grad().reset();
    (l.run(form) * upstream).sum().backward();
    grads.emplace_back();
    for (auto& t : trained) grads.back().push_back(t.grad().clone());
  }
  for (size_t i = 0; i < trained.size(); ++i) {  // relative to the gradient's scale: sums over every position
    double scale = grads[0][i].abs().max().item<double>();
    EXPECT_GT(scale, 0.0) << i;
    EXPECT_LT(max_diff(grads[0][i], grads[1][i]), 1e-5 * scale) << i;
  }
}

TEST_P(MlaTest, DecodingFromTheCompressedCacheEqualsTheFullForward) {
  ModelConfig c = tiny_deepseek(GetParam());
  Transformer m = Transformer::random(c, 5);
  const int64_t L = 11, prefill = 6;
  at::Tensor ids = at::randint(0, c.vocab_size, {1, L}, at::detail::createCPUGenerator(6), at::kLong);
  at::Tensor positions = at::arange(L, at::kLong).unsqueeze(0);
  at::Tensor full = m.forward(ids, positions, causal(L));

  KVCache cache = m.new_cache(1, L);
  // Per token and layer: the latent and the rope key, not keys and values per head.
  EXPECT_EQ(cache.k[0].sizes().vec(), (std::vector<int64_t>{1, 1, L, c.mla.kv_lora_rank}));
  EXPECT_EQ(cache.v[0].sizes().vec(), (std::vector<int64_t>{1, 1, L, c.mla.qk_rope_head_dim}));
  at::Tensor first = positions.narrow(1, 0, prefill);
  at::Tensor hidden =
      m.forward(ids.narrow(1, 0, prefill), first, causal(prefill), AttentionKV::into_cache(&cache, first));
  EXPECT_LT(max_diff(hidden, full.narrow(1, 0, prefill)), 1e-5);
  Transformer fused = m.with_fused_projections();  // the decode copy, with kv_b_proj split per head
  at::Tensor slots = at::arange(L, at::kLong).unsqueeze(0);
  for (int64_t t = prefill; t < L; ++t) {
    at::Tensor pos = at::full({1, 1}, t, at::kLong);
    at::Tensor step =
        fused.forward(ids.narrow(1, t, 1), pos, (slots <= t).unsqueeze(1), AttentionKV::into_cache(&cache, pos));
    EXPECT_LT(max_diff(step.select(1, 0), full.select(1, t)), 1e-5) << "position " << t;
  }
}

TEST_P(MlaTest, SharedPromptScoringEqualsWholeSequences) {
  ModelConfig c = tiny_deepseek(GetParam());
  Transformer m = Transformer::random(c, 7);
  std::vector<std::vector<int64_t>> prompts = {{1, 2, 3, 4}, {1, 2, 3, 4}, {5, 6}};
  std::vector<std::vector<int64_t>> completions = {{7, 8, 9}, {10, 11}, {12, 13, 14, 15}};
  std::vector<std::vector<int64_t>> whole;
  for (size_t i = 0; i < prompts.size(); ++i) {
    whole.push_back(prompts[i]);
    whole.back().insert(whole.back().end(), completions[i].begin(), completions[i].end());
  }
  at::Tensor shared = completion_logprobs(m, make_prompt_completion_batch(prompts, completions));
  at::Tensor separate = next_token_logprobs(m, make_token_batch(whole));
  for (size_t i = 0; i < prompts.size(); ++i) {
    int64_t P = static_cast<int64_t>(prompts[i].size()), C = static_cast<int64_t>(completions[i].size());
    EXPECT_LT(max_diff(shared[i].narrow(0, 0, C), separate[i].narrow(0, P - 1, C)), 1e-5) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Deepseek, MlaTest, ::testing::Values(false, true));

}  // namespace
}  // namespace r1
