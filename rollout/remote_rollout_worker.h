// A rollout worker in another process or host (`r1 rollout serve`), seen
// through the same RolloutWorker interface as the in-process one, and the
// policy versions pushed to it. Each run() and push connects, authenticates both sides with the shared key, sends the
// request and reads the result; every wait has a deadline, and every error names the worker's address ("rollout
// worker 10.0.0.7:5555 did not answer within 600 s"), so a learner can tell which worker failed.
#pragma once

#include <cstdint>
#include <string>

#include "rollout/rollout_worker.h"
#include "rollout/weight_push.h"

namespace r1 {

struct RemoteWorkerOptions {
  std::string address;             // HOST:PORT of `r1 rollout serve`
  std::string key;                 // the shared secret (read_auth_key_file)
  double connect_timeout_s = 10;   // TCP connect plus the handshake
  double request_timeout_s = 600;  // from sending a request to the whole result
  // Longest silence while a request is sampled: the worker sends a heartbeat
  // every --heartbeat-interval, so a dead or cut-off worker is known in
  // seconds, not after the whole request_timeout.
  double heartbeat_timeout_s = 30;
  uint32_t max_result_bytes = 1u << 30;
  WeightPushOptions push = {};  // bucket size; timeout of each step of a push
};

class RemoteRolloutWorker : public RolloutWorker {
 public:
  explicit RemoteRolloutWorker(RemoteWorkerOptions options) : options_(std::move(options)) {}
  // The worker's samples, or an error naming its address. A result whose
  // step, policy version or prompts differ from the request's is an error.
  Result<RolloutResult> run(const RolloutRequest& request) override;
  // Makes `policy` the worker's version `version` (rollout/weight_push.h):
  // once this returns ok, the worker samples requests for `version` with
  // these weights and refuses every other version. On an error (naming the
  // worker) it still serves the version it had.
  Result<WeightPushStats> push_weights(const Transformer& policy, int64_t version);
  Status sync_policy(const Transformer& policy, int64_t version) override {
    return push_weights(policy, version).status();
  }

 private:
  RemoteWorkerOptions options_;
};

}  // namespace r1
