#include "rollout/rollout_worker.h"

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
  r.sampling.temperature = 0.9;
  r.sampling.top_p = 0.95;
  r.sampling.stop_token_ids = {4};
  r.sampling.seed = 11;
  r.prompts = {{40, {1, 2, 3}}, {17, {5, 6}}};
  return r;
}

TEST(RolloutTypes, RequestAndResultRoundTripThroughJson) {
  RolloutRequest request = sample_request();
  auto back = rollout_request_from_json(to_json(request), "req");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(to_json(*back), to_json(request));
  RolloutResult result{3, 2, {{40, 1, {7, 8}, {-0.5f, -1.25f}, "length"}}, 3, 2, 0.1, 0.2};
  auto result_back = rollout_result_from_json(to_json(result), "res");
  ASSERT_TRUE(result_back.ok()) << result_back.status().message();
  EXPECT_EQ(to_json(*result_back), to_json(result));
}

TEST(RolloutTypes, MalformedMessagesNameTheField) {
  auto r = rollout_request_from_json(R"({"step": 1, "policy_version": 0, "prompts": []})", "req");
  EXPECT_EQ(r.status().message(), "req: field 'sampling' is missing");
  auto s = rollout_result_from_json(
      R"({"step":1,"policy_version":0,"prefill_tokens":0,"completion_tokens":0,"prefill_seconds":0,)"
      R"("decode_seconds":0,"samples":[{"prompt_index":0,"sample_index":0,"token_ids":[1,2],"logprobs":[0.0],)"
      R"("finish_reason":"stop"}]})",
      "res");
  EXPECT_EQ(s.status().message(), "res: samples[]: 'logprobs' and 'token_ids' differ in length");
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
  auto direct = generate(model, {{1, 2, 3}, {5, 6}}, o);
  ASSERT_TRUE(direct.ok());
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(result->samples[i].prompt_index, i < 3 ? 40 : 17);
    EXPECT_EQ(result->samples[i].token_ids, (*direct)[i].token_ids);
    EXPECT_EQ(result->samples[i].finish_reason, (*direct)[i].finish_reason);
  }
  request.sampling.stop_strings = {"</answer>"};
  EXPECT_FALSE(worker.run(request).ok());
}

}  // namespace
}  // namespace r1
