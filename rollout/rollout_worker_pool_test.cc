#include "rollout/rollout_worker_pool.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <fstream>

#include "model/test_models.h"
#include "rollout/remote_rollout_worker.h"
#include "train/train_test_util.h"

namespace r1 {
namespace {

RolloutRequest pool_request() {
  RolloutRequest r{.step = 2, .policy_version = 1};
  r.sampling = {.num_generations = 2,
                .max_completion_length = 6,
                .options = {.temperature = 1.0, .top_k = 0, .top_p = 1.0, .min_p = 0.0},
                .stop_token_ids = {3},
                .stop_strings = {},
                .seed = 5};
  for (int64_t p = 0; p < 7; ++p) r.prompts.push_back({.prompt_index = 10 * p + 1, .prompt_ids = {4 + p, 9, 2 + p}});
  return r;
}

// A loopback address nothing listens on.
std::string closed_address() { return "127.0.0.1:" + std::to_string(free_loopback_port()); }

PoolMember dead_member(const std::string& address) {
  return {address, std::make_unique<RemoteRolloutWorker>(
                       RemoteWorkerOptions{.address = address, .key = "k", .connect_timeout_s = 5})};
}

std::string read_log(std::FILE* log) {
  std::rewind(log);
  std::string out;
  for (int c; (c = std::fgetc(log)) != EOF;) out += static_cast<char>(c);
  return out;
}

void expect_same_samples(const RolloutResult& got, const RolloutResult& want) {
  ASSERT_EQ(got.samples.size(), want.samples.size());
  for (size_t i = 0; i < got.samples.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    EXPECT_EQ(got.samples[i].prompt_index, want.samples[i].prompt_index);
    EXPECT_EQ(got.samples[i].sample_index, want.samples[i].sample_index);
    EXPECT_EQ(got.samples[i].token_ids, want.samples[i].token_ids);
    EXPECT_EQ(got.samples[i].finish_reason, want.samples[i].finish_reason);
    ASSERT_EQ(got.samples[i].logprobs.size(), want.samples[i].logprobs.size());
    for (size_t t = 0; t < got.samples[i].logprobs.size(); ++t)  // shards batch differently: fp32 rounding
      EXPECT_NEAR(got.samples[i].logprobs[t], want.samples[i].logprobs[t],
                  3e-5 * (1 + std::abs(want.samples[i].logprobs[t])));
  }
  EXPECT_EQ(got.completion_tokens, want.completion_tokens);
}

// Whole prompts per worker, in the request's order; a worker that cannot be
// reached is dropped, named in the log, and its prompts are sampled by the
// others exactly as one worker samples them.
TEST(RolloutWorkerPool, ShardsWholePromptsAndRedispatchesAWorkerThatFails) {
  Transformer model = tiny_random_model(32, 0.3, 4);
  RolloutRequest request = pool_request();
  auto alone = LocalRolloutWorker(model).run(request);
  ASSERT_TRUE(alone.ok()) << alone.status().message();

  std::string dead = closed_address();
  std::vector<PoolMember> members;
  members.push_back({"local-a", std::make_unique<LocalRolloutWorker>(model)});
  members.push_back(dead_member(dead));
  members.push_back({"local-b", std::make_unique<LocalRolloutWorker>(model)});
  std::FILE* log = std::tmpfile();
  RolloutWorkerPool pool(std::move(members), log);
  auto pooled = pool.run(request);
  ASSERT_TRUE(pooled.ok()) << pooled.status().message();
  EXPECT_EQ(pooled->step, 2);
  EXPECT_EQ(pooled->policy_version, 1);
  expect_same_samples(*pooled, *alone);
  EXPECT_EQ(pool.live_workers(), 2u);
  std::string lines = read_log(log);
  EXPECT_NE(lines.find("dropped a rollout worker: rollout worker " + dead + ": "), std::string::npos) << lines;
  EXPECT_NE(lines.find("go to the 2 live workers"), std::string::npos) << lines;

  // The next request runs on the two that are left, with the same samples.
  auto again = pool.run(request);
  ASSERT_TRUE(again.ok()) << again.status().message();
  expect_same_samples(*again, *alone);
  std::fclose(log);
}

TEST(RolloutWorkerPool, NoWorkerLeftIsAnErrorNamingEach) {
  std::string a = closed_address(), b = closed_address();
  std::vector<PoolMember> members;
  members.push_back(dead_member(a));
  members.push_back(dead_member(b));
  RolloutWorkerPool pool(std::move(members), nullptr);
  auto r = pool.run(pool_request());
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_EQ(m.rfind("no rollout worker left: rollout worker " + a + ": ", 0), 0u) << m;
  EXPECT_NE(m.find("; rollout worker " + b + ": "), std::string::npos) << m;
  EXPECT_EQ(pool.live_workers(), 0u);
}

TEST(RolloutWorkerPool, RemotePoolChecksItsAddressesAndKey) {
  std::string key = ::testing::TempDir() + "pool_key";
  std::ofstream(key) << "0123456789abcdef0123456789abcdef\n";
  ::chmod(key.c_str(), 0600);
  EXPECT_EQ(remote_rollout_pool({.workers = {}, .auth_key_file = key}, nullptr).status().message(),
            "rollout workers: expected at least one HOST:PORT");
  EXPECT_EQ(remote_rollout_pool({.workers = {"127.0.0.1:5000", "127.0.0.1:5000"}, .auth_key_file = key}, nullptr)
                .status()
                .message(),
            "rollout worker 127.0.0.1:5000 is listed twice");
  EXPECT_FALSE(remote_rollout_pool({.workers = {"no-port"}, .auth_key_file = key}, nullptr).ok());
  auto pool = remote_rollout_pool({.workers = {"127.0.0.1:5000", "[::1]:5001"}, .auth_key_file = key}, nullptr);
  EXPECT_TRUE(pool.ok()) << pool.status().message();
  ::chmod(key.c_str(), 0644);
  EXPECT_FALSE(remote_rollout_pool({.workers = {"127.0.0.1:5000"}, .auth_key_file = key}, nullptr).ok());
}

}  // namespace
}  // namespace r1
