#include "rollout/rollout_worker.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "model/generate.h"
#include "model/test_models.h"

namespace r1 {
namespace {

RolloutRequest sample_request() {
  RolloutRequest r;
  r.step = 3;
  r.policy_version = 2;
  r.sampling.num_generations = 3;
  r.sampling.max_completion_length = 7;
  r.sampling.options.temperature = 0.9;
  r.sampling.options.top_p = 0.95;
  r.sampling.stop_token_ids = {4};
  r.sampling.seed = 11;
  r.sampling.record_routes = true;
  r.prompts = {{40, {1, 2, 3}}, {17, {5, 6}}};
  return r;
}

TEST(RolloutTypes, RequestAndResultRoundTripThroughJson) {
  RolloutRequest request = sample_request();
  auto back = rollout_request_from_json(to_json(request), "req");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(to_json(*back), to_json(request));
  RolloutResult result{.step = 3,
                       .policy_version = 2,
                       .samples = {{.prompt_index = 40,
                                    .sample_index = 1,
                                    .token_ids = {7, 8},
                                    .logprobs = {-0.5f, -1.25f},
                                    .finish_reason = "length",
                                    .completion = "ab",
                                    .generation_ms = 1.5,
                                    .routed_experts = {3, 0, 255, 7, 1, 2}}},
                       .prefill_tokens = 3,
                       .completion_tokens = 2,
                       .prefill_seconds = 0.1,
                       .decode_seconds = 0.2};
  auto result_back = rollout_result_from_json(to_json(result), "res");
  ASSERT_TRUE(result_back.ok()) << result_back.status().message();
  EXPECT_EQ(to_json(*result_back), to_json(result));
  EXPECT_EQ(result_back->samples[0].step, 3);  // each sample carries the result's step and version
  EXPECT_EQ(result_back->samples[0].policy_version, 2);
  EXPECT_EQ(result_back->samples[0].routed_experts, result.samples[0].routed_experts);
  EXPECT_TRUE(back->sampling.record_routes);
  // A scored sample (as data-parallel ranks exchange them) keeps its reward whole.
  result.samples[0].reward = {.components = {{.name = "accuracy", .weight = 1.0, .score = 1.0, .details = R"({"x":1})"},
                                             {.name = "format", .weight = 0.5, .score = 0.25, .details = "{}"}},
                              .total = 1.125};
  auto scored = rollout_result_from_json(to_json(result), "res");
  ASSERT_TRUE(scored.ok()) << scored.status().message();
  const RewardResult& reward = scored->samples[0].reward;
  ASSERT_EQ(reward.components.size(), 2u);
  EXPECT_EQ(reward.total, 1.125);
  EXPECT_EQ(reward.components[0].details, R"({"x":1})");
  EXPECT_EQ(reward.components[1].name, "format");
  EXPECT_EQ(reward.components[1].weight, 0.5);
  EXPECT_EQ(reward.components[1].score, 0.25);
}

TEST(RolloutTypes, MalformedMessagesNameTheField) {
  auto r = rollout_request_from_json(R"({"step": 1, "policy_version": 0, "prompts": []})", "req");
  EXPECT_EQ(r.status().message(), "req: field 'sampling' is missing");
  auto s = rollout_result_from_json(
      R"({"step":1,"policy_version":0,"prefill_tokens":0,"completion_tokens":0,"prefill_seconds":0,)"
      R"("decode_seconds":0,"samples":[{"prompt_index":0,"sample_index":0,"token_ids":[1,2],"logprobs":[0.0],)"
      R"("finish_reason":"stop","completion":"","generation_ms":0}]})",
      "res");
  EXPECT_EQ(s.status().message(), "res: samples[]: 'logprobs' and 'token_ids' differ in length");
  auto bad_reward = rollout_result_from_json(
      R"({"step":1,"policy_version":0,"prefill_tokens":0,"completion_tokens":0,"prefill_seconds":0,)"
      R"("decode_seconds":0,"samples":[{"prompt_index":0,"sample_index":0,"token_ids":[1],"logprobs":[0.0],)"
      R"("finish_reason":"stop","completion":"","generation_ms":0,"reward":{"total":1,"components":[{"name":"a"}]}}]})",
      "res");
  EXPECT_EQ(bad_reward.status().message(), "res: samples[].reward.components[]: field 'weight' is missing");
  auto bad_route = rollout_result_from_json(
      R"({"step":1,"policy_version":0,"prefill_tokens":0,"completion_tokens":0,"prefill_seconds":0,)"
      R"("decode_seconds":0,"samples":[{"prompt_index":0,"sample_index":0,"token_ids":[1],"logprobs":[0.0],)"
      R"("finish_reason":"stop","completion":"","generation_ms":0,"routed_experts":[1,-2]}]})",
      "res");
  EXPECT_EQ(bad_route.status().message(),
            "res: samples[]: field 'routed_experts' holds -2; expected expert indices in [0, 32767]");
}

TEST(LocalRolloutWorker, SamplesWhatGenerateSamplesAndKeepsDatasetIndices) {
  Transformer model = tiny_random_model(32, 0.3, 3);
  RolloutRequest request = sample_request();
  LocalRolloutWorker worker(model);
  auto result = worker.run(request);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->policy_version, 2);
  ASSERT_EQ(result->samples.size(), 6u);
  GenerationOptions o;
  o.num_samples = 3;
  o.max_new_tokens = 7;
  o.sampling = {0.9, 0, 0.95, 0.0};
  o.stop_token_ids = {4};
  o.seed = 11;
  auto direct = generate(model, request.prompts, o);
  ASSERT_TRUE(direct.ok());
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(result->samples[i].prompt_index, i < 3 ? 40 : 17);
    EXPECT_EQ(result->samples[i].token_ids, (*direct)[i].token_ids);
    EXPECT_EQ(result->samples[i].finish_reason, (*direct)[i].finish_reason);
    EXPECT_EQ(result->samples[i].step, 3);
    EXPECT_EQ(result->samples[i].policy_version, 2);
  }
  request.sampling.stop_strings = {"</answer>"};
  EXPECT_FALSE(worker.run(request).ok());
}

// The batching-invariance contract: the same request split into batches of
// 1, 3 and 16 prompts, decoded with one or two streams, gives the same
// tokens, and log-probs equal up to fp32 rounding (a batch's matrix products
// may sum in another order).
TEST(LocalRolloutWorker, SamplesDoNotDependOnBatching) {
  Transformer model = tiny_random_model(48, 0.3, 5);
  RolloutRequest request;
  request.sampling = {.num_generations = 3,
                      .max_completion_length = 12,
                      .options = {.temperature = 1.0, .top_k = 20, .top_p = 0.95, .min_p = 0.01},
                      .stop_token_ids = {3},
                      .stop_strings = {},
                      .seed = 77};
  for (int64_t p = 0; p < 16; ++p) {
    std::vector<int64_t> ids;
    for (int64_t t = 0; t < 1 + (p * 7) % 11; ++t) ids.push_back(4 + (p * 13 + t * 5) % 44);
    request.prompts.push_back({.prompt_index = 100 + 3 * p, .prompt_ids = ids});
  }
  LocalRolloutWorker worker(model);
  std::vector<Sample> reference;
  bool any_stop = false, any_length = false;
  for (int64_t batch : {16, 3, 1})
    for (int streams : {1, 2}) {
      int threads = at::get_num_threads();
      at::set_num_threads(2);
      std::vector<Sample> samples;
      for (size_t first = 0; first < request.prompts.size(); first += batch) {
        RolloutRequest part = request;
        part.prompts.assign(request.prompts.begin() + first,
                            request.prompts.begin() + std::min(request.prompts.size(), first + batch));
        GenerationOptions o;  // the worker's options, with the stream count pinned
        o.num_samples = 3;
        o.max_new_tokens = 12;
        o.sampling = {1.0, 20, 0.95, 0.01};
        o.stop_token_ids = {3};
        o.seed = 77;
        o.decode_streams = streams;
        auto r = generate(model, part.prompts, o);
        ASSERT_TRUE(r.ok()) << r.status().message();
        samples.insert(samples.end(), r->begin(), r->end());
      }
      at::set_num_threads(threads);
      if (reference.empty()) {
        auto whole = worker.run(request);
        ASSERT_TRUE(whole.ok()) << whole.status().message();
        reference = whole->samples;
      }
      ASSERT_EQ(samples.size(), reference.size());
      for (size_t i = 0; i < samples.size(); ++i) {
        SCOPED_TRACE("batch " + std::to_string(batch) + ", streams " + std::to_string(streams) + ", row " +
                     std::to_string(i));
        EXPECT_EQ(samples[i].prompt_index, reference[i].prompt_index);
        EXPECT_EQ(samples[i].token_ids, reference[i].token_ids);
        EXPECT_EQ(samples[i].finish_reason, reference[i].finish_reason);
        ASSERT_EQ(samples[i].logprobs.size(), reference[i].logprobs.size());
        for (size_t t = 0; t < samples[i].logprobs.size(); ++t)  // ~1e-5 relative after the layers' sums
          EXPECT_NEAR(samples[i].logprobs[t], reference[i].logprobs[t],
                      3e-5 * (1 + std::abs(reference[i].logprobs[t])));
        any_stop |= samples[i].finish_reason == "stop";
        any_length |= samples[i].finish_reason == "length";
      }
    }
  EXPECT_TRUE(any_stop && any_length);  // both endings were exercised
}

}  // namespace
}  // namespace r1
