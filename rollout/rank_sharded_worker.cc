#include "rollout/rank_sharded_worker.h"

#include <algorithm>

#include "rollout/rollout_worker_pool.h"

namespace r1 {

Result<RolloutResult> RankShardedWorker::run(const RolloutRequest& request) {
  const int64_t ranks = group_.world_size();
  RolloutRequest mine = request;
  mine.prompts = split_prompts(request.prompts, static_cast<size_t>(ranks))[group_.rank()];
  Result<RolloutResult> local = mine.prompts.empty() ? Result<RolloutResult>(RolloutResult{}) : local_->run(mine);
  // A failed rank still takes part in the gather (with an empty answer and
  // its error), so the others fail at once naming it rather than time out.
  std::string payload = local.ok() ? "ok" + to_json(*local) : "error" + local.status().message();
  R1_ASSIGN_OR_RETURN(std::vector<std::string> all, group_.all_gather(payload));
  RolloutResult merged{.step = request.step, .policy_version = request.policy_version};
  for (int64_t r = 0; r < ranks; ++r) {
    const std::string& p = all[r];
    const std::string where = "rank " + std::to_string(r) + "'s samples";
    if (p.rfind("error", 0) == 0) return Status::error("rank " + std::to_string(r) + " failed to sample: " + p.substr(5));
    R1_ASSIGN_OR_RETURN(RolloutResult part, rollout_result_from_json(p.substr(2), where));
    for (Sample& s : part.samples) merged.samples.push_back(std::move(s));
    merged.prefill_tokens += part.prefill_tokens;
    merged.completion_tokens += part.completion_tokens;
    merged.prefill_seconds = std::max(merged.prefill_seconds, part.prefill_seconds);
    merged.decode_seconds = std::max(merged.decode_seconds, part.decode_seconds);
  }
  return merged;
}

}  // namespace r1
