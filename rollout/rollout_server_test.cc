// RolloutServer and RemoteRolloutWorker in one process over loopback: the
// orderings that a test across processes can only hope for (a handshake
// while the model is busy) are forced here with a gate in front of the real
// worker. tests/python/test_rollout_serve.py covers the worker process.
#include "rollout/rollout_server.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "model/test_models.h"
#include "rollout/remote_rollout_worker.h"

namespace r1 {
namespace {

const std::string kKey = "a shared secret of some 32 bytes";

RolloutRequest test_request() {
  RolloutRequest r;
  r.step = 2;
  r.sampling = {.num_generations = 4,
                .max_completion_length = 9,
                .options = {.temperature = 0.8, .top_k = 10, .top_p = 0.9, .min_p = 0.0},
                .stop_token_ids = {3},
                .stop_strings = {},
                .seed = 21};
  r.prompts = {{.prompt_index = 7, .prompt_ids = {4, 5, 6}}, {.prompt_index = 2, .prompt_ids = {9, 8}}};
  return r;
}

// The real worker behind a gate: run() says it has started, then waits to
// be released.
class GatedWorker : public RolloutWorker {
 public:
  explicit GatedWorker(RolloutWorker& inner) : inner_(inner) {}
  Result<RolloutResult> run(const RolloutRequest& request) override {
    started_.set_value();
    release_.get_future().wait();
    return inner_.run(request);
  }
  std::future<void> started() { return started_.get_future(); }
  void release() { release_.set_value(); }

 private:
  RolloutWorker& inner_;
  std::promise<void> started_;
  std::promise<void> release_;
};

// Hands requests to a worker that the test holds (a gate in front of it).
class Forward : public RolloutWorker {
 public:
  explicit Forward(RolloutWorker& to) : to_(to) {}
  Result<RolloutResult> run(const RolloutRequest& request) override { return to_.run(request); }

 private:
  RolloutWorker& to_;
};

ServingWorkerFactory local_workers() {
  return [](const Transformer& policy) { return std::make_unique<LocalRolloutWorker>(policy); };
}

// A server on 127.0.0.1:0 serving `model` (as version 0, and the versions
// pushed to it) on its own thread until the end of the scope.
class ServerThread {
 public:
  explicit ServerThread(const Transformer& model, ServingWorkerFactory make_worker = local_workers()) {
    server_ = value_or_throw(RolloutServer::bind({.listen = "127.0.0.1:0", .key = kKey}));
    thread_ = std::thread([this, model, make_worker] {
      Status served = server_->run(model, make_worker);
      EXPECT_TRUE(served.ok()) << served.message();
    });
  }
  ~ServerThread() {
    server_->stop();
    thread_.join();
  }
  std::string address() const { return server_->address(); }

 private:
  std::unique_ptr<RolloutServer> server_;
  std::thread thread_;
};

void expect_same_samples(const RolloutResult& a, const RolloutResult& b) {
  ASSERT_EQ(a.samples.size(), b.samples.size());
  for (size_t i = 0; i < a.samples.size(); ++i) {
    EXPECT_EQ(a.samples[i].prompt_index, b.samples[i].prompt_index);
    EXPECT_EQ(a.samples[i].token_ids, b.samples[i].token_ids);
    EXPECT_EQ(a.samples[i].logprobs, b.samples[i].logprobs);  // bit for bit
    EXPECT_EQ(a.samples[i].finish_reason, b.samples[i].finish_reason);
  }
}

TEST(RolloutServer, HandshakesGoOnWhileTheModelIsBusy) {
  Transformer model = tiny_random_model(32, 0.3, 3);
  LocalRolloutWorker local(model);
  GatedWorker gated(local);
  std::future<void> started = gated.started();
  ServerThread server(model, [&gated](const Transformer&) { return std::make_unique<Forward>(gated); });
  RemoteRolloutWorker remote({.address = server.address(), .key = kKey});
  std::future<Result<RolloutResult>> busy = std::async(std::launch::async, [&] { return remote.run(test_request()); });
  started.wait();  // the request is on the model thread, held at the gate
  // Meanwhile a learner with the wrong key is answered and refused.
  RemoteRolloutWorker intruder({.address = server.address(), .key = "not the key, but long enough"});
  Result<RolloutResult> refused = intruder.run(test_request());
  EXPECT_EQ(refused.status().message(),
            "rollout worker " + server.address() +
                ": the peer refused: authentication failed: the learner's proof does not match this worker's key");
  gated.release();
  Result<RolloutResult> result = busy.get();
  ASSERT_TRUE(result.ok()) << result.status().message();
  Result<RolloutResult> expected = local.run(test_request());
  ASSERT_TRUE(expected.ok());
  expect_same_samples(*result, *expected);
  EXPECT_EQ(result->step, 2);
}

TEST(RolloutServer, FailedRequestsAreAnsweredAndServingGoesOn) {
  Transformer model = tiny_random_model(32, 0.3, 4);
  LocalRolloutWorker local(model);
  ServerThread server(model);
  RemoteRolloutWorker remote({.address = server.address(), .key = kKey});
  RolloutRequest bad = test_request();
  bad.prompts[1].prompt_ids = {9, 1000};  // outside the 32-token vocabulary
  EXPECT_EQ(remote.run(bad).status().message(), "rollout worker " + server.address() +
                                                    ": the peer refused: prompt 2: token id 1000 is outside the "
                                                    "vocabulary [0, 32)");
  Result<RolloutResult> served = remote.run(test_request());
  ASSERT_TRUE(served.ok()) << served.status().message();
  expect_same_samples(*served, *local.run(test_request()));
}

TEST(RemoteRolloutWorker, ResultLargerThanItsLimitIsRefusedBeforeItIsRead) {
  Transformer model = tiny_random_model(32, 0.3, 5);
  ServerThread server(model);
  RemoteRolloutWorker small({.address = server.address(), .key = kKey, .max_result_bytes = 100});
  Result<RolloutResult> result = small.run(test_request());
  ASSERT_FALSE(result.ok());
  std::string prefix = "rollout worker " + server.address() + ": frame header of ";
  EXPECT_EQ(result.status().message().rfind(prefix, 0), 0u) << result.status().message();
  EXPECT_NE(result.status().message().find("exceeds the limit of 100 bytes"), std::string::npos);
}

// `model` with tensor `name` scaled by `factor`: another policy version.
Transformer with_tensor_scaled(const Transformer& model, const std::string& name, double factor) {
  TensorMap tensors = model.tensors();
  tensors[name] = tensors[name] * factor;
  return value_or_throw(Transformer::from_tensors(model.config(), tensors));
}

RolloutRequest request_for(int64_t version) {
  RolloutRequest r = test_request();
  r.policy_version = version;
  return r;
}

TEST(WeightSync, PushedVersionsAreSampledExactlyAsLocally) {
  Transformer v0 = tiny_random_model(32, 0.3, 6);
  ServerThread server(v0);
  // Small buckets: the embedding and the projections are split across them.
  RemoteRolloutWorker remote({.address = server.address(), .key = kKey, .push = {.bucket_bytes = 3000}});
  // Another seed: every matrix differs, but norms (ones) and biases
  // (zeros) are the same, so those 11 of the 26 tensors are not sent.
  Transformer v1 = tiny_random_model(32, 0.3, 7);
  Result<WeightPushStats> first = remote.push_weights(v1, 1);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_TRUE(first->delta);
  EXPECT_EQ(first->tensors_sent, 15);
  EXPECT_EQ(first->tensors_total, 26);
  EXPECT_GT(first->buckets, 2);
  Result<RolloutResult> sampled = remote.run(request_for(1));
  ASSERT_TRUE(sampled.ok()) << sampled.status().message();
  expect_same_samples(*sampled, *LocalRolloutWorker(v1).run(request_for(1)));
  EXPECT_EQ(remote.run(request_for(0)).status().message(),
            "rollout worker " + server.address() +
                ": the peer refused: rollout request: policy version 0 asked for, this worker serves version 1");

  // One tensor changed: only it is sent, the rest is shared with version 1.
  Transformer v2 = with_tensor_scaled(v1, "model.layers.1.mlp.up_proj.weight", 1.5);
  Result<WeightPushStats> delta = remote.push_weights(v2, 2);
  ASSERT_TRUE(delta.ok()) << delta.status().message();
  EXPECT_EQ(delta->bytes_total, first->bytes_total);
  EXPECT_TRUE(delta->delta);
  EXPECT_EQ(delta->tensors_sent, 1);
  EXPECT_EQ(delta->bytes_sent, static_cast<int64_t>(v2.tensors().at("model.layers.1.mlp.up_proj.weight").nbytes()));
  sampled = remote.run(request_for(2));
  ASSERT_TRUE(sampled.ok()) << sampled.status().message();
  expect_same_samples(*sampled, *LocalRolloutWorker(v2).run(request_for(2)));
}

TEST(WeightSync, StaleOrMisshapedPushesAreRefusedAndTheOldVersionServed) {
  Transformer v0 = tiny_random_model(32, 0.3, 8);
  ServerThread server(v0);
  RemoteRolloutWorker remote({.address = server.address(), .key = kKey});
  ASSERT_TRUE(remote.push_weights(tiny_random_model(32, 0.3, 9), 3).ok());
  std::string refused = "rollout worker " + server.address() + ": the peer refused: ";
  EXPECT_EQ(remote.push_weights(v0, 3).status().message(),
            refused +
                "weights version 3 is the version this worker serves, with other weights; the push is refused, "
                "this worker still serves version 3");
  EXPECT_EQ(remote.push_weights(tiny_random_model(48, 0.3, 9), 4).status().message(),
            "rollout worker " + server.address() +
                ": the policy does not fit the worker's model: tensor 'model.embed_tokens.weight' is F32 [48,64], the "
                "worker's model has F32 [32,64]");
  EXPECT_TRUE(remote.run(request_for(3)).ok());
}

TEST(RolloutServer, ListenAddressErrorsNameTheOption) {
  EXPECT_EQ(RolloutServer::bind({.listen = "nowhere", .key = kKey}).status().message(),
            "--listen: 'nowhere' must be HOST:PORT (e.g. 127.0.0.1:5555 or [::1]:5555)");
  Result<std::unique_ptr<RolloutServer>> first = RolloutServer::bind({.listen = "127.0.0.1:0", .key = kKey});
  ASSERT_TRUE(first.ok());
  std::string taken = (*first)->address();
  EXPECT_EQ(RolloutServer::bind({.listen = taken, .key = kKey}).status().message(),
            "--listen " + taken + ": cannot listen on " + taken + ": Address already in use");
}

}  // namespace
}  // namespace r1
