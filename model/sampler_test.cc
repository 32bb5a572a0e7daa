#include "model/sampler.h"

#include <gtest/gtest.h>

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "model/scoring.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "util/counter_rng.h"

namespace r1 {
namespace {

// Row r of the result samples logits[r] with uniforms[r].
at::Tensor tokens_for(const at::Tensor& logits, const SamplingOptions& o, const std::vector<float>& uniforms) {
  return sample_tokens(logits, o, at::tensor(uniforms)).tokens;
}

// The inverse-CDF draw gives each token exactly the share of the unit
// interval its probability says: on a fine grid of uniform numbers the
// token counts match the probabilities to the grid's resolution.
TEST(Sampler, InverseCdfDrawsEachTokenWithItsProbability) {
  at::Tensor logits = at::tensor(std::vector<float>{0.5f, -1.0f, 2.0f, 0.0f, -3.0f});
  at::Tensor probs = logits.softmax(-1);
  const int n = 1 << 14;
  std::vector<float> grid(n);
  for (int i = 0; i < n; ++i) grid[i] = static_cast<float>(i) / n;
  at::Tensor tokens = tokens_for(logits.unsqueeze(0).expand({n, 5}).contiguous(), {}, grid);
  at::Tensor counts = at::bincount(tokens, {}, 5).to(at::kFloat) / n;
  EXPECT_TRUE(at::allclose(counts, probs, 0, 2.0 / n)) << counts << probs;
}

// Truncated tokens have zero mass and are never drawn, however close u is
// to the edges of the unit interval; top_k = 1 is greedy.
TEST(Sampler, TruncatedTokensAreNeverDrawn) {
  at::Tensor logits = at::tensor(std::vector<float>{3.0f, 2.9f, -5.0f, 2.8f, 0.1f, 0.2f, 0.3f, 9.0f}).view({2, 4});
  const float last = 1.0f - 1.0f / 16777216.0f;  // the largest uniform24 value
  for (float u : {0.0f, 1e-7f, 0.5f, last}) {
    SamplingOptions top2{.temperature = 1.0, .top_k = 2, .top_p = 1.0, .min_p = 0.0};
    at::Tensor t = tokens_for(logits, top2, {u, u});
    EXPECT_TRUE(t[0].item<int64_t>() == 0 || t[0].item<int64_t>() == 1) << u;
    EXPECT_TRUE(t[1].item<int64_t>() == 3 || t[1].item<int64_t>() == 2) << u;
    SamplingOptions top1{.temperature = 1.0, .top_k = 1, .top_p = 1.0, .min_p = 0.0};
    EXPECT_TRUE(at::equal(tokens_for(logits, top1, {u, u}), logits.argmax(-1))) << u;
    SamplingOptions min_p{.temperature = 0.7, .top_k = 0, .top_p = 1.0, .min_p = 0.5};
    EXPECT_EQ(tokens_for(logits, min_p, {u, u})[1].item<int64_t>(), 3) << u;
    // min_p 1 (vLLM's upper bound) keeps only the most likely token: greedy.
    SamplingOptions min_p1{.temperature = 0.7, .top_k = 0, .top_p = 1.0, .min_p = 1.0};
    EXPECT_TRUE(at::equal(tokens_for(logits, min_p1, {u, u}), logits.argmax(-1))) << u;
  }
  // The last uniform lands on the last token with mass, not past it.
  at::Tensor masked = at::tensor(std::vector<float>{1.0f, -std::numeric_limits<float>::infinity()}).view({1, 2});
  EXPECT_EQ(tokens_for(masked, {}, {last})[0].item<int64_t>(), 0);
}

// The one check of the sampling keys, worded as every config's checks are
// (rl, eval and sample call it on their keys; generate on its flags).
TEST(Sampler, OptionsOutsideTheirRangesAreErrorsNamingTheKey) {
  EXPECT_TRUE(SamplingOptions{}.validate().ok());
  EXPECT_TRUE((SamplingOptions{.temperature = 0, .top_k = 5, .top_p = 1, .min_p = 1}.validate().ok()));
  EXPECT_EQ(SamplingOptions{.temperature = -1}.validate().message(),
            "field 'temperature' must be >= 0 (0 = greedy), got -1");
  EXPECT_EQ(SamplingOptions{.top_k = -2}.validate().message(), "field 'top_k' must be >= 0 (0 = off), got -2");
  EXPECT_EQ(SamplingOptions{.top_p = 0}.validate().message(), "field 'top_p' must be in (0, 1], got 0");
  EXPECT_EQ(SamplingOptions{.min_p = 1.5}.validate().message(),
            "field 'min_p' must be in [0, 1] (1 keeps only the most likely tokens), got 1.5");
}

// Across many vocabulary blocks (the draw sums blocks, then scans one) the
// token is the first whose cumulative mass, computed sequentially in double,
// exceeds u * total, wherever u is not within rounding of a boundary; and a
// token outside the top-k is never drawn, even at u's extremes.
TEST(Sampler, BlockwiseDrawEqualsASequentialSearch) {
  const int64_t V = 1000, rows = 66, k = 300;  // 8 blocks of 128, the last one padded
  at::Tensor logits = at::normal(0.0, 3.0, {1, V}, at::detail::createCPUGenerator(5)).expand({rows, V}).contiguous();
  std::vector<float> u(rows);
  for (int64_t r = 0; r < rows; ++r) u[r] = static_cast<float>(r) / (rows - 2);
  u[rows - 2] = 0.0f, u[rows - 1] = 1.0f - 1.0f / 16777216.0f;
  SamplingOptions top_k{.temperature = 1.0, .top_k = k, .top_p = 1.0, .min_p = 0.0};
  at::Tensor tokens = tokens_for(logits, top_k, u);
  at::Tensor kept = logits[0] >= std::get<0>(logits[0].topk(k))[k - 1];
  at::Tensor probs = logits[0].to(at::kDouble).masked_fill(kept.logical_not(), -INFINITY).softmax(-1);
  std::vector<double> cdf(V);
  for (int64_t v = 0; v < V; ++v) cdf[v] = (v ? cdf[v - 1] : 0.0) + probs[v].item<double>();
  int compared = 0;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t token = tokens[r].item<int64_t>();
    EXPECT_TRUE(kept[token].item<bool>()) << "u = " << u[r] << " drew truncated token " << token;
    double target = u[r] * cdf[V - 1];
    int64_t want = std::upper_bound(cdf.begin(), cdf.end(), target) - cdf.begin();
    bool near_boundary =
        std::abs(cdf[std::min(want, V - 1)] - target) < 1e-5 || (want > 0 && target - cdf[want - 1] < 1e-5);
    if (near_boundary) continue;
    EXPECT_EQ(token, want) << "u = " << u[r];
    ++compared;
  }
  EXPECT_GT(compared, rows / 2);
}

// The log-prob reported is the untruncated temperature-scaled one: what the
// learner recomputes by teacher forcing.
// A real model's next-token distributions (SmolLM2-135M-Instruct, 49,152
// tokens, when scripts/setup.sh converted it), at every position of a real
// prompt, plain and truncated: the blockwise draw takes the token a
// sequential search in double takes, away from rounding boundaries.
TEST(Sampler, BlockwiseDrawOnARealModelsDistributions) {
  const std::string dir = ".cache/smollm2";  // tests run in the checkout
  if (!std::filesystem::exists(dir + "/config.json")) GTEST_SKIP() << "SmolLM2 was not converted by scripts/setup.sh";
  Transformer model = value_or_throw(Transformer::load(dir));
  Tokenizer tokenizer = value_or_throw(Tokenizer::load(dir));
  std::vector<int64_t> ids = tokenizer.encode(
      "Question: Natalia sold clips to 48 of her friends in April, and then "
      "she sold half as many clips in May. How many clips did she sell?");
  at::Tensor logits;
  {
    at::AutoGradMode no_grad(false);
    logits = model.lm_head(batch_hidden(model, make_token_batch({ids})))[0].to(at::kFloat);  // [L, V]
  }
  const int64_t rows = logits.size(0), V = logits.size(1);
  std::vector<float> u(rows);
  for (int64_t r = 0; r < rows; ++r) u[r] = static_cast<float>((r * 7919) % 1000) / 1000.0f;
  int compared = 0;
  for (SamplingOptions o : {SamplingOptions{}, SamplingOptions{.temperature = 0.7, .top_k = 50}}) {
    at::Tensor tokens = tokens_for(logits, o, u);
    at::Tensor scaled = logits.to(at::kDouble) / o.temperature;
    if (o.top_k > 0)
      scaled.masked_fill_(scaled < std::get<0>(scaled.topk(o.top_k, -1)).narrow(-1, o.top_k - 1, 1), -INFINITY);
    at::Tensor probs = scaled.softmax(-1);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<double> cdf(V);
      const double* p = probs[r].contiguous().data_ptr<double>();
      for (int64_t v = 0; v < V; ++v) cdf[v] = (v ? cdf[v - 1] : 0.0) + p[v];
      const double target = u[r] * cdf[V - 1];
      const int64_t want = std::upper_bound(cdf.begin(), cdf.end(), target) - cdf.begin();
      const int64_t got = tokens[r].item<int64_t>();
      EXPECT_GT(p[got], 0.0) << "row " << r << " drew a token of zero mass";
      if (std::abs(cdf[std::min(want, V - 1)] - target) < 1e-5 || (want > 0 && target - cdf[want - 1] < 1e-5)) continue;
      EXPECT_EQ(got, want) << "row " << r << ", temperature " << o.temperature;
      ++compared;
    }
  }
  EXPECT_GT(compared, rows);  // most of both passes' rows
}

// Truncated or not (untruncated, it comes from the draw's own softmax), at
// temperature 1 or not, in fp32 or bf16 logits.
TEST(Sampler, LogprobIsTheTemperatureScaledLogSoftmax) {
  at::Tensor logits = at::tensor(std::vector<float>{1.0f, 2.0f, 0.5f, -1.0f, -9.0f}).view({1, 5});
  for (double temperature : {0.8, 1.0})
    for (int64_t top_k : {2, 0})
      for (at::ScalarType dtype : {at::kFloat, at::kBFloat16})
        for (float u : {0.05f, 0.3f, 0.99f}) {
          SamplingOptions o{.temperature = temperature, .top_k = top_k, .top_p = 1.0, .min_p = 0.0};
          at::Tensor typed = logits.to(dtype);
          SampledTokens s = sample_tokens(typed, o, at::tensor(std::vector<float>{u}));
          int64_t t = s.tokens[0].item<int64_t>();
          double want = (typed[0].to(at::kFloat) / temperature).log_softmax(-1)[t].item<double>();
          EXPECT_NEAR(s.logprobs[0].item<double>(), want, 1e-6)
              << "temperature " << temperature << ", top_k " << top_k << ", u " << u;
        }
}

// Counter-based numbers: a pure function of (key, counter), in [0, 1 - 2^-24],
// and streams with different keys differ.
TEST(CounterRng, UniformsArePureFunctionsOfKeyAndCounter) {
  uint64_t a = stream_key({7, 3, 0}), b = stream_key({7, 3, 1}), c = stream_key({7, 0, 3});
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  double sum = 0;
  int same = 0;
  for (uint64_t t = 0; t < 4096; ++t) {
    float u = uniform24(a, t);
    EXPECT_EQ(u, uniform24(a, t));
    EXPECT_GE(u, 0.0f);
    EXPECT_LT(u, 1.0f);
    EXPECT_EQ(u * 16777216.0f, std::floor(u * 16777216.0f));  // a multiple of 2^-24
    sum += u;
    same += u == uniform24(b, t);
  }
  EXPECT_NEAR(sum / 4096, 0.5, 0.02);
  EXPECT_LT(same, 2);
}

}  // namespace
}  // namespace r1
