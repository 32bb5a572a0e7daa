// Sampling shared by the ranks of a data-parallel run: each rank samples a
// contiguous run of the request's whole prompts (its groups) on its own
// worker, and every rank gets every rank's samples, in request order. As
// each (prompt, sample) row draws from its own random stream, the ranks
// together sample what one process samples; a rank whose run is the batch
// one process's decode stream would hold (N one-thread ranks against one
// N-thread process) samples it bit for bit, log-probs included.
#pragma once

#include <memory>

#include "rollout/rollout_worker.h"
#include "train/process_group.h"

namespace r1 {

class RankShardedWorker : public RolloutWorker {
 public:
  // `local` samples this rank's prompts; `group` must outlive this worker.
  RankShardedWorker(std::unique_ptr<RolloutWorker> local, ProcessGroup& group)
      : local_(std::move(local)), group_(group) {}

  // Every rank must call it with the same request. Token counts are summed
  // over ranks; seconds are the slowest rank's.
  Result<RolloutResult> run(const RolloutRequest& request) override;
  Status sync_policy(const Transformer& policy, int64_t version) override {
    return local_->sync_policy(policy, version);
  }

 private:
  std::unique_ptr<RolloutWorker> local_;
  ProcessGroup& group_;
};

}  // namespace r1
