// A rollout worker in another process or host (`r1 rollout serve`), seen
// through the same RolloutWorker interface as the in-process one. Each run()
// connects, authenticates both sides with the shared key, sends the request
// and reads the result; every wait has a deadline, and every error names the
// worker's address ("rollout worker 10.0.0.7:5555 did not answer within
// 600 s"), so a learner can tell which worker failed.
#pragma once

#include <cstdint>
#include <string>

#include "rollout/rollout_worker.h"

namespace r1 {

struct RemoteWorkerOptions {
  std::string address;             // HOST:PORT of `r1 rollout serve`
  std::string key;                 // the shared secret (read_auth_key_file)
  double connect_timeout_s = 10;   // TCP connect plus the handshake
  double request_timeout_s = 600;  // from sending a request to the whole result
  uint32_t max_result_bytes = 1u << 30;
};

class RemoteRolloutWorker : public RolloutWorker {
 public:
  explicit RemoteRolloutWorker(RemoteWorkerOptions options) : options_(std::move(options)) {}
  // The worker's samples, or an error naming its address. A result whose
  // step, policy version or prompts differ from the request's is an error.
  Result<RolloutResult> run(const RolloutRequest& request) override;

 private:
  RemoteWorkerOptions options_;
};

}  // namespace r1
