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
                .temperature = 0.8,
                .top_k = 10,
                .top_p = 0.9,
                .min_p = 0.0,
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

// A server on 127.0.0.1:0 serving `worker` on its own thread until the end
// of the scope.
class ServerThread {
 public:
  explicit ServerThread(RolloutWorker& worker) {
    server_ = value_or_throw(RolloutServer::bind({.listen = "127.0.0.1:0", .key = kKey}));
    thread_ = std::thread([this, &worker] { server_->run(worker); });
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
  ServerThread server(gated);
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
  ServerThread server(local);
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
  LocalRolloutWorker local(model);
  ServerThread server(local);
  RemoteRolloutWorker small({.address = server.address(), .key = kKey, .max_result_bytes = 100});
  Result<RolloutResult> result = small.run(test_request());
  ASSERT_FALSE(result.ok());
  std::string prefix = "rollout worker " + server.address() + ": frame header of ";
  EXPECT_EQ(result.status().message().rfind(prefix, 0), 0u) << result.status().message();
  EXPECT_NE(result.status().message().find("exceeds the limit of 100 bytes"), std::string::npos);
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
