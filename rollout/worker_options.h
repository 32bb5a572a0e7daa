// Where a sampling job samples: the `rollout_workers`, `rollout_auth_key_file`
// and `rollout_timeout` keys, the same in every job config that samples
// (eval, sample), read once into this struct. No workers: the job samples in
// its own process. No LibTorch here, so config libraries stay light; the
// workers themselves are rollout/rollout_worker_pool.h.
#pragma once

#include <string>
#include <vector>

#include "util/config_fields.h"
#include "util/status.h"

namespace r1 {

struct RolloutWorkerOptions {
  std::vector<std::string> workers;  // HOST:PORT of each `r1 rollout serve`
  std::string auth_key_file;         // the shared secret, a file only its owner may read
  double timeout_s = 600;            // seconds to wait for a worker's answer
  double heartbeat_timeout_s = 30;   // seconds a worker may stay silent while it samples
};

// The keys; a job table takes them with include(). Errors name the key.
const ConfigFields<RolloutWorkerOptions>& rollout_worker_options_fields();
Status check_rollout_worker_options(const RolloutWorkerOptions& o);

}  // namespace r1
