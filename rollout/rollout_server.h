// The rollout worker's server (`r1 rollout serve`): a Boost.Asio TCP server
// that authenticates each learner (rollout/wire_auth.h) and answers its
// RolloutRequests through a RolloutWorker. Connections and handshakes run
// concurrently on one network thread; requests run one at a time on the
// model, on a thread of their own, so a slow or hostile client never stalls
// the others. A client is dropped, and logged, when it fails the handshake,
// sends a frame over the limit or malformed bytes, or does not finish a
// handshake or a frame within its deadline (docs/distributed.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rollout/rollout_worker.h"
#include "rollout/weight_receiver.h"
#include "util/status.h"

namespace r1 {

struct RolloutServerOptions {
  std::string listen;                      // HOST:PORT; port 0 picks a free one
  std::string key;                         // the shared secret (read_auth_key_file)
  int64_t policy_version = 0;              // the version the loaded weights are; others are refused
  double handshake_timeout_s = 10;         // from accept to an authenticated learner
  double read_timeout_s = 300;             // waiting for a request, or writing a result
  double heartbeat_interval_s = 1;         // a heartbeat frame this often while a request is sampled
  uint32_t max_request_bytes = 64u << 20;  // largest request frame of an authenticated learner
  uint32_t max_bucket_bytes = 1u << 30;    // largest weights_bucket payload
  int max_connections = 64;                // more are closed at once
};

class RolloutServer {
 public:
  // Binds the listening socket (only the given address); errors name it.
  // Bind before loading a model, so a taken port fails in seconds; clients
  // that connect meanwhile wait in the backlog.
  static Result<std::unique_ptr<RolloutServer>> bind(RolloutServerOptions options);
  ~RolloutServer();
  // The address actually bound (the real port when 0 was asked for).
  std::string address() const;
  // Serves `policy` as version options.policy_version, and each other
  // version learners push (rollout/weight_receiver.h), sampling through the
  // worker `make_worker` makes for each, until stop() is called or SIGINT
  // or SIGTERM arrives. An error when the policy's tensors cannot be hashed.
  Status run(Transformer policy, ServingWorkerFactory make_worker);
  void stop();

 private:
  struct Impl;
  explicit RolloutServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1
