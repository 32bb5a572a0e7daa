#include "model/generate.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "model/model_presets.h"
#include "model/scoring.h"

namespace r1 {
namespace {

Transformer tiny_model() {
  ModelConfig c = *preset_config(ModelFamily::qwen2, "tiny");
  c.vocab_size = 50;
  c.max_position_embeddings = 64;
  c.eos_token_ids = {};
  c.initializer_range = 0.3;  // peaked enough that samples differ from uniform
  return Transformer::random(c, 7);
}

const std::vector<std::vector<int64_t>> kPrompts = {{1, 2, 3}, {4, 5, 6, 7, 8, 9, 10}};

// Prompt i gets prompt_index i.
std::vector<RolloutPrompt> indexed(const std::vector<std::vector<int64_t>>& prompts) {
  std::vector<RolloutPrompt> out;
  for (size_t i = 0; i < prompts.size(); ++i) out.push_back({static_cast<int64_t>(i), prompts[i]});
  return out;
}

Result<std::vector<Sample>> generate_ids(const Transformer& m, const std::vector<std::vector<int64_t>>& prompts,
                                         const GenerationOptions& o, GenerationStats* stats = nullptr) {
  return generate(m, indexed(prompts), o, stats);
}

std::vector<Sample> run(const Transformer& m, const GenerationOptions& o,
                        const std::vector<std::vector<int64_t>>& prompts = kPrompts) {
  auto r = generate_ids(m, prompts, o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : std::vector<Sample>{};
}

GenerationOptions sampling(int64_t num_samples, int64_t max_new_tokens, uint64_t seed) {
  GenerationOptions o;
  o.num_samples = num_samples;
  o.max_new_tokens = max_new_tokens;
  o.seed = seed;
  return o;
}

TEST(Generate, SameSeedSameSamplesOtherSeedOtherSamples) {
  Transformer m = tiny_model();
  GenerationOptions o = sampling(3, 12, 1);
  auto a = run(m, o), b = run(m, o);
  o.seed = 2;
  auto c = run(m, o);
  ASSERT_EQ(a.size(), 6u);
  bool any_differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].token_ids, b[i].token_ids);
    EXPECT_EQ(a[i].prompt_index, static_cast<int64_t>(i / 3));
    EXPECT_EQ(a[i].sample_index, static_cast<int64_t>(i % 3));
    any_differs |= a[i].token_ids != c[i].token_ids;
  }
  EXPECT_TRUE(any_differs);
}

TEST(Generate, TopKOneIsGreedy) {
  Transformer m = tiny_model();
  GenerationOptions greedy;
  greedy.sampling.temperature = 0;
  greedy.max_new_tokens = 10;
  GenerationOptions top1 = greedy;
  top1.sampling = {.temperature = 1.0, .top_k = 1};
  top1.seed = 99;
  auto a = run(m, greedy), b = run(m, top1);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].token_ids, b[i].token_ids);
}

// The learner recomputes sampling log-probs by teacher forcing; both must agree.
// Truncated by top_p or not (then the draw's own softmax gives the log-prob).
TEST(Generate, LogprobsEqualTeacherForcedScoring) {
  Transformer m = tiny_model();
  for (double top_p : {0.9, 1.0}) {
    GenerationOptions o;
    o.num_samples = 2;
    o.max_new_tokens = 9;
    o.sampling.temperature = 0.7;
    o.sampling.top_p = top_p;
    for (const Sample& c : run(m, o)) {
      std::vector<int64_t> seq = kPrompts[c.prompt_index];
      int64_t p = static_cast<int64_t>(seq.size());
      seq.insert(seq.end(), c.token_ids.begin(), c.token_ids.end());
      at::Tensor lp = next_token_logprobs(m, make_token_batch({seq}), 0.7)[0].narrow(0, p - 1, c.token_ids.size());
      at::Tensor sampled = at::tensor(std::vector<float>(c.logprobs.begin(), c.logprobs.end()));
      EXPECT_TRUE(at::allclose(lp, sampled, 1e-4, 1e-5)) << "top_p " << top_p << lp << sampled;
    }
  }
}

// Decoding runs bf16 models with fused q/k/v and gate/up matrices; they must
// compute the same function, biases included (Qwen2 q/k/v, Llama mlp_bias).
TEST(Generate, FusedProjectionsComputeTheSameModel) {
  for (ModelFamily family : {ModelFamily::qwen2, ModelFamily::llama}) {
    ModelConfig c = *preset_config(family, "tiny");
    c.vocab_size = 50;
    c.mlp_bias = family == ModelFamily::llama;
    c.o_bias = family == ModelFamily::llama;
    Transformer m = Transformer::random(c, 3);
    at::Generator gen = at::detail::createCPUGenerator(5);
    for (const auto& [name, t] : m.tensors())
      if (name.find("bias") != std::string::npos) t.normal_(0, 0.5, gen);
    TokenBatch batch = make_token_batch({{1, 2, 3, 4}, {5, 6}});
    at::Tensor plain = batch_hidden(m, batch), fused = batch_hidden(m.with_fused_projections(), batch);
    EXPECT_TRUE(at::allclose(plain, fused, 1e-5, 1e-5)) << (plain - fused).abs().max();
  }
}

// Concurrent decode streams split the prompts, not the results: sampling
// is the same with one or two, and the output keeps its order.
TEST(Generate, DecodeStreamsSplitThePromptsNotTheResults) {
  Transformer m = tiny_model();
  int threads = at::get_num_threads();
  at::set_num_threads(2);
  std::vector<std::vector<int64_t>> prompts = {{1, 2}, {3, 4, 5}, {6}, {7, 8, 9, 10}, {11, 12, 13}};
  GenerationOptions o;
  o.num_samples = 2;
  o.max_new_tokens = 8;
  o.sampling = {.temperature = 0.9, .top_k = 0, .top_p = 0.95, .min_p = 0.02};
  o.seed = 5;
  o.decode_streams = 1;
  auto one = run(m, o, prompts);
  o.decode_streams = 2;
  auto two = run(m, o, prompts);
  ASSERT_EQ(one.size(), 10u);
  ASSERT_EQ(two.size(), 10u);
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(two[i].prompt_index, static_cast<int64_t>(i / 2));
    EXPECT_EQ(two[i].sample_index, static_cast<int64_t>(i % 2));
    EXPECT_EQ(two[i].token_ids, one[i].token_ids) << "row " << i;
  }
  EXPECT_EQ(at::get_num_threads(), 2);  // restored after the streams
  at::set_num_threads(threads);
}

// A row's tokens depend on its prompt_index, not on its position in the
// request: the same prompt under another index samples differently, and
// under the same index the same, whatever else is in the request.
TEST(Generate, SamplesAreKeyedByPromptIndexNotPosition) {
  Transformer m = tiny_model();
  GenerationOptions o = sampling(2, 10, 3);
  std::vector<Sample> alone = *generate(m, {{7, kPrompts[1]}}, o);
  std::vector<Sample> second = *generate(m, {{2, kPrompts[0]}, {7, kPrompts[1]}}, o);
  std::vector<Sample> renamed = *generate(m, {{8, kPrompts[1]}}, o);
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(second[2].prompt_index, 7);
  EXPECT_EQ(second[2].token_ids, alone[0].token_ids);
  EXPECT_EQ(second[3].token_ids, alone[1].token_ids);
  EXPECT_NE(renamed[0].token_ids, alone[0].token_ids);
  EXPECT_NE(alone[0].token_ids, alone[1].token_ids);  // samples of a group draw from their own streams
}

// Stats add up over calls (a caller may keep one for a whole run), also
// when the call ran several decode streams.
TEST(Generate, StatsAddUpOverCalls) {
  Transformer m = tiny_model();
  GenerationOptions o;
  o.num_samples = 2;
  o.max_new_tokens = 5;
  o.decode_streams = 2;
  GenerationStats once, twice;
  ASSERT_TRUE(generate_ids(m, kPrompts, o, &once).ok());
  ASSERT_TRUE(generate_ids(m, kPrompts, o, &twice).ok());
  GenerationStats second = twice;
  ASSERT_TRUE(generate_ids(m, kPrompts, o, &twice).ok());
  EXPECT_EQ(once.decode_tokens, 2 * 2 * 5);  // no eos: every row runs to max_new_tokens
  EXPECT_EQ(twice.decode_tokens, 2 * once.decode_tokens);
  EXPECT_EQ(twice.prefill_tokens, 2 * once.prefill_tokens);
  EXPECT_GT(twice.decode_seconds, second.decode_seconds);
}

TEST(Generate, FinishReasons) {
  Transformer m = tiny_model();
  GenerationOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = 6;
  auto free_run = run(m, o);
  EXPECT_EQ(free_run[0].finish_reason, "length");
  EXPECT_EQ(free_run[0].token_ids.size(), 6u);
  // Stop on the third greedy token: finish "stop" right there.
  o.stop_token_ids = {free_run[0].token_ids[2]};
  auto stopped = run(m, o, {kPrompts[0]});
  EXPECT_EQ(stopped[0].finish_reason, "stop");
  EXPECT_EQ(stopped[0].token_ids.size(), 3u);
  // Context end is a length finish.
  GenerationOptions wide = o;
  wide.stop_token_ids.clear();
  wide.max_new_tokens = 1000;
  auto clipped = run(m, wide, {kPrompts[1]});
  EXPECT_EQ(clipped[0].finish_reason, "length");
  EXPECT_EQ(kPrompts[1].size() + clipped[0].token_ids.size(), 64u);
}

TEST(Generate, StopStringsEndTheCompletion) {
  Transformer m = tiny_model();
  GenerationOptions o;
  o.sampling.temperature = 0;
  o.max_new_tokens = 8;
  auto free_run = run(m, o, {kPrompts[0]});
  // Text of token t is "<t>"; stop when "<id of the 4th token>" appears.
  o.decode = [](const std::vector<int64_t>& ids) {
    std::string s;
    for (int64_t id : ids) s += "<" + std::to_string(id) + ">";
    return s;
  };
  o.stop_strings = {"<" + std::to_string(free_run[0].token_ids[3]) + ">"};
  auto stopped = run(m, o, {kPrompts[0]});
  EXPECT_EQ(stopped[0].finish_reason, "stop");
  size_t first = std::find(free_run[0].token_ids.begin(), free_run[0].token_ids.end(), free_run[0].token_ids[3]) -
                 free_run[0].token_ids.begin();
  EXPECT_EQ(stopped[0].token_ids.size(), first + 1);
}

TEST(Generate, BadPromptsAreErrors) {
  Transformer m = tiny_model();
  GenerationOptions o;
  std::vector<int64_t> too_long(64, 1);
  auto r = generate_ids(m, {too_long}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("prompt 0 has 64 tokens"), std::string::npos) << r.status().message();
  EXPECT_NE(generate_ids(m, {{1, 50}}, o).status().message().find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(generate_ids(m, {{}}, o).status().message().find("empty"), std::string::npos);
  // A prompt index keys its random streams: a repeat would repeat its samples.
  auto repeated = generate(m, {{3, {1, 2}}, {3, {4, 5}}}, o);
  EXPECT_EQ(repeated.status().message(), "prompt 3 appears twice in one request");
  o.sampling.top_p = 0;
  EXPECT_NE(generate_ids(m, kPrompts, o).status().message().find("top_p"), std::string::npos);
}

}  // namespace
}  // namespace r1
