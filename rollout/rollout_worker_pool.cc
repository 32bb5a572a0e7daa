#include "rollout/rollout_worker_pool.h"

#include <map>
#include <optional>
#include <thread>

#include "rollout/remote_rollout_worker.h"
#include "rollout/wire_auth.h"
#include "rollout/wire_endpoint.h"

namespace r1 {

std::vector<std::vector<RolloutPrompt>> split_prompts(const std::vector<RolloutPrompt>& prompts, size_t parts) {
  std::vector<std::vector<RolloutPrompt>> out(parts);
  for (size_t k = 0; k < parts; ++k)
    out[k].assign(prompts.begin() + k * prompts.size() / parts, prompts.begin() + (k + 1) * prompts.size() / parts);
  return out;
}

RolloutWorkerPool::RolloutWorkerPool(std::vector<PoolMember> members, std::FILE* log)
    : members_(std::move(members)), failures_(members_.size()), log_(log) {}

void RolloutWorkerPool::drop(size_t m, const std::string& why, const std::string& what) {
  // Remote workers' errors already name their address.
  const std::string& name = members_[m].name;
  failures_[m] = why.find(name) == std::string::npos ? name + ": " + why : why;
  if (log_)
    std::fprintf(log_, "dropped a rollout worker: %s; %s go to the %zu live workers\n", failures_[m].c_str(),
                 what.c_str(), live_workers());
}

Status RolloutWorkerPool::none_left() const {
  std::string all;
  for (const std::string& f : failures_) all += (all.empty() ? "" : "; ") + f;
  return Status::error("no rollout worker left: " + all);
}

Status RolloutWorkerPool::sync_policy(const Transformer& policy, int64_t version) {
  std::vector<size_t> live;
  for (size_t m = 0; m < members_.size(); ++m)
    if (failures_[m].empty()) live.push_back(m);
  std::vector<Status> done(live.size());
  std::vector<std::thread> threads;
  for (size_t k = 0; k < live.size(); ++k)
    threads.emplace_back([&, k] { done[k] = members_[live[k]].worker->sync_policy(policy, version); });
  for (std::thread& t : threads) t.join();
  for (size_t k = 0; k < live.size(); ++k)
    if (!done[k].ok()) drop(live[k], done[k].message(), "its next prompts");
  return live_workers() > 0 ? Status() : none_left();
}

size_t RolloutWorkerPool::live_workers() const {
  size_t n = 0;
  for (const std::string& f : failures_) n += f.empty();
  return n;
}

Result<RolloutResult> RolloutWorkerPool::run(const RolloutRequest& request) {
  std::map<int64_t, std::vector<Sample>> by_prompt;  // prompt_index -> its samples
  RolloutResult merged{.step = request.step, .policy_version = request.policy_version};
  std::vector<RolloutPrompt> pending = request.prompts;
  while (!pending.empty()) {
    std::vector<size_t> live;
    for (size_t m = 0; m < members_.size(); ++m)
      if (failures_[m].empty()) live.push_back(m);
    if (live.empty()) return none_left();
    std::vector<std::vector<RolloutPrompt>> shards = split_prompts(pending, std::min(live.size(), pending.size()));
    std::vector<std::optional<Result<RolloutResult>>> answers(shards.size());
    std::vector<std::thread> threads;
    for (size_t k = 0; k < shards.size(); ++k)
      threads.emplace_back([&, k] {
        RolloutRequest part = request;
        part.prompts = shards[k];
        answers[k] = members_[live[k]].worker->run(part);
      });
    for (std::thread& t : threads) t.join();
    pending.clear();
    for (size_t k = 0; k < shards.size(); ++k) {
      Result<RolloutResult>& a = *answers[k];
      if (!a.ok()) {
        pending.insert(pending.end(), shards[k].begin(), shards[k].end());
        drop(live[k], a.status().message(), "its " + std::to_string(shards[k].size()) + " prompts");
        continue;
      }
      for (Sample& s : a->samples) by_prompt[s.prompt_index].push_back(std::move(s));
      merged.prefill_tokens += a->prefill_tokens;
      merged.completion_tokens += a->completion_tokens;
      merged.prefill_seconds += a->prefill_seconds;
      merged.decode_seconds += a->decode_seconds;
    }
  }
  for (const RolloutPrompt& p : request.prompts)
    for (Sample& s : by_prompt[p.prompt_index]) merged.samples.push_back(std::move(s));
  return merged;
}

Result<std::unique_ptr<RolloutWorker>> remote_rollout_pool(const RolloutWorkerOptions& options, std::FILE* log) {
  if (options.workers.empty()) return Status::error("rollout workers: expected at least one HOST:PORT");
  R1_ASSIGN_OR_RETURN(std::string key, read_auth_key_file(options.auth_key_file));
  std::vector<PoolMember> members;
  for (const std::string& address : options.workers) {
    R1_RETURN_IF_ERROR(parse_host_port(address, "rollout worker").status());
    for (const PoolMember& m : members)
      if (m.name == address) return Status::error("rollout worker " + address + " is listed twice");
    members.push_back({address, std::make_unique<RemoteRolloutWorker>(RemoteWorkerOptions{
                                    .address = address,
                                    .key = key,
                                    .request_timeout_s = options.timeout_s,
                                    .heartbeat_timeout_s = options.heartbeat_timeout_s})});
  }
  return std::unique_ptr<RolloutWorker>(std::make_unique<RolloutWorkerPool>(std::move(members), log));
}

Result<JobWorker> make_job_worker(const RolloutWorkerOptions& options,
                                  const std::function<Result<Transformer>()>& load_model, const Tokenizer& tokenizer,
                                  std::FILE* log) {
  R1_RETURN_IF_ERROR(check_rollout_worker_options(options));
  JobWorker job;
  if (!options.workers.empty()) {
    R1_ASSIGN_OR_RETURN(job.worker, remote_rollout_pool(options, log));
    return job;
  }
  R1_ASSIGN_OR_RETURN(Transformer model, load_model());
  job.model = std::make_unique<Transformer>(std::move(model));
  job.worker = std::make_unique<LocalRolloutWorker>(*job.model, &tokenizer);
  return job;
}

}  // namespace r1
