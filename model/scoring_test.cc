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
  for (const auto& t : m.parameters()) grads.push_back(t.grad().clone());
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

}  // namespace
}  // namespace r1
