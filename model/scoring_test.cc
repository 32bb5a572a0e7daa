#include "model/scoring.h"

#include <gtest/gtest.h>

#include "model/test_models.h"

namespace r1 {
namespace {

// Two prompts shared by several completions, one prompt alone, prompts and
// completions of different lengths (so both sides are padded).
const std::vector<std::vector<int64_t>> kPrompts = {{1, 2, 3, 4}, {5, 6}, {1, 2, 3, 4}, {7}, {5, 6}, {1, 2, 3, 4}};
const std::vector<std::vector<int64_t>> kCompletions = {{8, 9, 10}, {11}, {12, 13, 14, 15, 16}, {17, 18},
                                                        {19, 20, 21}, {22}};

// The reference: each prompt + completion scored as one plain sequence.
at::Tensor plain_logprobs(const Transformer& m, at::Tensor* entropy) {
  std::vector<at::Tensor> rows, entropies;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    std::vector<int64_t> seq = kPrompts[i];
    seq.insert(seq.end(), kCompletions[i].begin(), kCompletions[i].end());
    at::Tensor e;
    at::Tensor lp = next_token_logprobs(m, make_token_batch({seq}), 0.8, &e)[0];
    int64_t p = static_cast<int64_t>(kPrompts[i].size()), c = static_cast<int64_t>(kCompletions[i].size());
    rows.push_back(at::constant_pad_nd(lp.narrow(0, p - 1, c), {0, 5 - c}));
    entropies.push_back(at::constant_pad_nd(e[0].narrow(0, p - 1, c), {0, 5 - c}));
  }
  *entropy = at::stack(entropies);
  return at::stack(rows);
}

std::vector<at::Tensor> gradients_of(const Transformer& m, const at::Tensor& logprobs) {
  for (auto& t : m.parameters()) t.mutable_grad() = at::Tensor();
  // A weighting that differs per token, so every position's gradient counts.
  (logprobs * at::linspace(-1.0, 2.0, logprobs.numel()).view(logprobs.sizes())).sum().backward();
  std::vector<at::Tensor> grads;
  // (An MoE expert that no token chose has no gradient.)
  for (const auto& t : m.parameters()) grads.push_back(t.grad().defined() ? t.grad().clone() : at::zeros_like(t));
  return grads;
}

TEST(Scoring, GroupsIdenticalPromptsInOrderOfFirstAppearance) {
  PromptCompletionBatch b = make_prompt_completion_batch(kPrompts, kCompletions);
  EXPECT_EQ(b.prompts.ids.size(0), 3);
  EXPECT_TRUE(at::equal(b.prompts.lengths, at::tensor(std::vector<int64_t>{4, 2, 1})));
  EXPECT_TRUE(at::equal(b.prompt_of, at::tensor(std::vector<int64_t>{0, 1, 0, 2, 1, 0})));
}

TEST(Scoring, SharedPromptScoringEqualsPlainSequencesInValuesAndGradients) {
  Transformer m = tiny_random_model(40, 0.2, 5, /*trainable=*/true);
  at::Tensor plain_entropy, shared_entropy;
  at::Tensor plain = plain_logprobs(m, &plain_entropy);
  PromptCompletionBatch batch = make_prompt_completion_batch(kPrompts, kCompletions);
  at::Tensor shared = completion_logprobs(m, batch, 0.8, &shared_entropy);
  ASSERT_EQ(shared.sizes(), plain.sizes());
  EXPECT_TRUE(at::allclose(shared, plain, 1e-5, 1e-6)) << (shared - plain).abs().max().item<double>();
  EXPECT_TRUE(at::allclose(shared_entropy, plain_entropy, 1e-5, 1e-6));
  EXPECT_EQ(shared.eq(0).sum().item<int64_t>(), 6 * 5 - 15);  // zero exactly past each completion
  auto plain_grads = gradients_of(m, plain), shared_grads = gradients_of(m, completion_logprobs(m, batch, 0.8));
  for (size_t i = 0; i < plain_grads.size(); ++i)
    // fp32 sums in another order: equal to 1e-5 of the tensor's largest entry.
    EXPECT_LE((shared_grads[i] - plain_grads[i]).abs().max().item<double>(),
              1e-5 * plain_grads[i].abs().max().item<double>() + 1e-9)
        << "tensor " << i;
}

TEST(Scoring, PaddingFreeBatchIndexesTheRealTokensRowByRow) {
  PromptCompletionBatch b = make_prompt_completion_batch(kPrompts, kCompletions);
  // Prompts [3, 4]: lengths 4, 2, 1; completions [6, 5]: lengths 3, 1, 5, 2, 3, 1.
  EXPECT_TRUE(at::equal(b.prompt_tokens, at::tensor(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 8})));
  EXPECT_TRUE(at::equal(b.completion_tokens, at::tensor(std::vector<int64_t>{0, 1, 2, 5, 10, 11, 12, 13, 14, 15, 16,
                                                                             20, 21, 22, 25})));
  // The model runs every real token but each completion's last: input lengths 2, 0, 4, 1, 2, 0.
  EXPECT_TRUE(at::equal(b.input_tokens, at::tensor(std::vector<int64_t>{0, 1, 10, 11, 12, 13, 15, 20, 21})));
  // Row n's first token from prompt state n, any other from the input state of the token
  // before it (row 6 + its input index).
  EXPECT_TRUE(
      at::equal(b.predicted_from, at::tensor(std::vector<int64_t>{0, 6, 7, 1, 2, 8, 9, 10, 11, 3, 12, 4, 13, 14, 5})));
  // Nothing to pack: no indices.
  PromptCompletionBatch even = make_prompt_completion_batch({{1, 2}, {3, 4}}, {{5}, {6}});
  EXPECT_FALSE(even.prompt_tokens.defined());
  EXPECT_FALSE(even.completion_tokens.defined());
  EXPECT_FALSE(make_prompt_completion_batch(kPrompts, kCompletions, at::kCPU, false).completion_tokens.defined());
}

class PaddingFree : public ::testing::TestWithParam<ModelFamily> {};

// Computing only the real tokens (verl's remove-padding) changes nothing but
// fp32 rounding, in log-probs, entropies and gradients, for every attention
// and MLP kind (Qwen3's q/k norms, DeepSeek's MLA and MoE).
TEST_P(PaddingFree, ScoringEqualsPaddedInValuesAndGradients) {
  Transformer m = tiny_random_model(40, 0.2, 5, /*trainable=*/true, GetParam());
  PromptCompletionBatch padded = make_prompt_completion_batch(kPrompts, kCompletions, at::kCPU, false);
  PromptCompletionBatch packed = make_prompt_completion_batch(kPrompts, kCompletions);
  ASSERT_TRUE(packed.prompt_tokens.defined() && packed.completion_tokens.defined());
  at::Tensor padded_entropy, packed_entropy;
  at::Tensor want = completion_logprobs(m, padded, 0.8, &padded_entropy);
  at::Tensor got = completion_logprobs(m, packed, 0.8, &packed_entropy);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LE((got - want).abs().max().item<double>(), 1e-5);
  EXPECT_LE((packed_entropy - padded_entropy).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(got.eq(0).sum().item<int64_t>(), 6 * 5 - 15);  // zero exactly past each completion
  EXPECT_EQ(packed_entropy.eq(0).sum().item<int64_t>(), 6 * 5 - 15);
  auto want_grads = gradients_of(m, completion_logprobs(m, padded, 0.8));
  auto got_grads = gradients_of(m, completion_logprobs(m, packed, 0.8));
  size_t nonzero = 0;
  for (size_t i = 0; i < want_grads.size(); ++i) {
    EXPECT_LE((got_grads[i] - want_grads[i]).abs().max().item<double>(),
              1e-5 * want_grads[i].abs().max().item<double>() + 1e-9)
        << "tensor " << i;
    nonzero += want_grads[i].abs().sum().item<double>() > 0;
  }
  EXPECT_GT(nonzero, want_grads.size() / 2);
  // The padded-layout states (on-policy distillation's input) are the same too, at the real tokens.
  at::Tensor valid = (at::arange(5).unsqueeze(0) < padded.completions.lengths.unsqueeze(1)).unsqueeze(2);
  at::Tensor h_padded = completion_hidden(m, padded) * valid, h_packed = completion_hidden(m, packed) * valid;
  EXPECT_LE((h_packed - h_padded).abs().max().item<double>(), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Families, PaddingFree,
                         ::testing::Values(ModelFamily::qwen2, ModelFamily::llama, ModelFamily::qwen3,
                                           ModelFamily::deepseek_v3),
                         [](const auto& info) { return std::string(model_family_name(info.param)); });

TEST(PaddingFree, RefusesACacheOrRouting) {
  Transformer m = tiny_random_model(40, 0.2, 5);
  at::Tensor ids = at::tensor(std::vector<int64_t>{1, 2, 3}).view({1, 3});
  at::Tensor positions = at::arange(3).view({1, 3});
  at::Tensor allowed = causal_padding_mask(at::tensor(std::vector<int64_t>{3}), 3);
  at::Tensor packed = at::tensor(std::vector<int64_t>{0, 1});
  MoeRouting routing;
  EXPECT_THROW(m.forward(ids, positions, allowed, {}, &routing, packed), Error);
  KVCache cache = m.new_cache(1, 3);
  EXPECT_THROW(m.forward(ids, positions, allowed, AttentionKV::into_cache(&cache, positions), nullptr, packed), Error);
  EXPECT_NO_THROW(m.forward(ids, positions, allowed, {}, nullptr, packed));
}

// Empty completions (a masked or zero-length sample) pack to nothing, alone
// or beside others, and score as the padded computation does: all zeros.
TEST(PaddingFree, EmptyCompletionsScoreAsPadded) {
  Transformer m = tiny_random_model(40, 0.2, 5);
  for (const auto& completions : std::vector<std::vector<std::vector<int64_t>>>{{{8, 9}, {}, {10}}, {{}, {}}}) {
    std::vector<std::vector<int64_t>> prompts(completions.size(), std::vector<int64_t>{1, 2, 3});
    at::Tensor want = completion_logprobs(m, make_prompt_completion_batch(prompts, completions, at::kCPU, false));
    at::Tensor got = completion_logprobs(m, make_prompt_completion_batch(prompts, completions));
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-5);
  }
}

// A completion's last token predicts nothing, so the model never runs it:
// padded batches drop the last column, packed ones the last token of each
// row. Scores still equal each sequence scored whole, including batches
// where that leaves nothing to run (every completion one token long).
TEST(Scoring, CompletionsScoreWithoutRunningTheirLastToken) {
  Transformer m = tiny_random_model(40, 0.2, 5);
  for (const auto& completions : std::vector<std::vector<std::vector<int64_t>>>{
           {{5}, {6}}, {{5, 6}, {7, 8}}, {{5}, {6, 7, 8}}, {{9}, {10}, {11, 12}}}) {
    std::vector<std::vector<int64_t>> prompts(completions.size(), std::vector<int64_t>{1, 2, 3});
    for (bool padding_free : {false, true}) {
      at::Tensor got =
          completion_logprobs(m, make_prompt_completion_batch(prompts, completions, at::kCPU, padding_free));
      for (size_t n = 0; n < completions.size(); ++n) {
        std::vector<int64_t> seq = prompts[n];
        seq.insert(seq.end(), completions[n].begin(), completions[n].end());
        const int64_t c = static_cast<int64_t>(completions[n].size());
        at::Tensor want = next_token_logprobs(m, make_token_batch({seq}))[0].narrow(0, 2, c);
        EXPECT_LE((got[n].narrow(0, 0, c) - want).abs().max().item<double>(), 1e-5)
            << "completion " << n << " of " << completions.size() << ", padding_free " << padding_free;
      }
    }
  }
}

}  // namespace
}  // namespace r1
