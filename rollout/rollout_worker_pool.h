// Several rollout workers seen as one. A request is split into whole prompts
// (a prompt and its G samples, one GRPO group) per worker, and the shards run
// concurrently. A worker whose shard fails (it died, timed out, or answered
// wrongly; its error names its address) is dropped and its prompts go to the
// workers still alive; when none is left the request fails with every
// worker's error. Sampling is keyed per (prompt, sample) row
// (util/counter_rng.h), so which worker draws a prompt does not change its
// tokens, and a re-dispatched prompt draws what it would have drawn.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rollout/rollout_worker.h"
#include "rollout/worker_options.h"

namespace r1 {

// `prompts` in `parts` contiguous runs of near-equal size, in order: the cut
// generate() makes into decode streams, so N one-thread workers given the
// runs decode the batches one N-thread process decodes.
std::vector<std::vector<RolloutPrompt>> split_prompts(const std::vector<RolloutPrompt>& prompts, size_t parts);

struct PoolMember {
  std::string name;  // how logs and errors name it, e.g. its HOST:PORT
  std::unique_ptr<RolloutWorker> worker;
};

class RolloutWorkerPool : public RolloutWorker {
 public:
  // `log` (may be nullptr) gets one line per dropped worker.
  RolloutWorkerPool(std::vector<PoolMember> members, std::FILE* log);
  Result<RolloutResult> run(const RolloutRequest& request) override;
  // Syncs every live worker concurrently; one that fails is dropped like a
  // worker whose shard fails.
  Status sync_policy(const Transformer& policy, int64_t version) override;
  size_t live_workers() const;

 private:
  std::vector<PoolMember> members_;
  std::vector<std::string> failures_;  // per member; non-empty once dropped
  std::FILE* log_;
  // Drops member `m` for `why`; `what` says what it was doing.
  void drop(size_t m, const std::string& why, const std::string& what);
  Status none_left() const;
};

// A pool of the `r1 rollout serve` workers `options` names (HOST:PORT each),
// sharing the key in its key file, with its timeouts.
Result<std::unique_ptr<RolloutWorker>> remote_rollout_pool(const RolloutWorkerOptions& options, std::FILE* log);

// The worker a sampling job (eval, sample) uses: the pool of its
// rollout_workers, or, with none, one in this process over the model that
// `load_model` loads then (so a job on remote workers loads no weights).
struct JobWorker {
  std::unique_ptr<Transformer> model;  // the in-process worker's model
  std::unique_ptr<RolloutWorker> worker;
};
Result<JobWorker> make_job_worker(const RolloutWorkerOptions& options,
                                  const std::function<Result<Transformer>()>& load_model, const Tokenizer& tokenizer,
                                  std::FILE* log);

}  // namespace r1
