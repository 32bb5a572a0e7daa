#include "rollout/rollout_store.h"

#include <iostream>

namespace r1 {

Result<std::unique_ptr<RolloutStore>> RolloutStore::open(const std::string& path, RolloutStoreOptions options) {
  if (options.max_queued_jobs == 0) return Status::error("RolloutStoreOptions.max_queued_jobs must be >= 1");
  R1_ASSIGN_OR_RETURN(std::unique_ptr<RolloutDbWriter> writer, RolloutDbWriter::open(path));
  return std::unique_ptr<RolloutStore>(new RolloutStore(path, options, std::move(writer)));
}

RolloutStore::RolloutStore(std::string path, RolloutStoreOptions options, std::unique_ptr<RolloutDbWriter> writer)
    : path_(std::move(path)), options_(options), writer_(std::move(writer)) {
  thread_ = std::thread([this] { writer_loop(); });
}

RolloutStore::~RolloutStore() {
  Status status = close();
  if (!status.ok()) std::cerr << "r1: rollout store: " << status.message() << "\n";
}

Status RolloutStore::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return error_;
    closed_ = true;
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
  writer_.reset();  // closes the connection; the last one out checkpoints the WAL
  return error_;
}

Result<uint64_t> RolloutStore::enqueue(Job job) {
  std::unique_lock<std::mutex> lock(mu_);
  space_cv_.wait(lock, [&] { return queue_.size() < options_.max_queued_jobs || !error_.ok() || closed_; });
  if (closed_) return Status::error(path_ + ": rollout store is closed");
  if (!error_.ok()) return error_;
  uint64_t seq = next_seq_++;
  queue_.emplace_back(seq, std::move(job));
  lock.unlock();
  work_cv_.notify_one();
  return seq;
}

Status RolloutStore::wait_for(uint64_t seq) {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return done_seq_ >= seq || !error_.ok(); });
  return error_;
}

StoredRollout stored_rollout(const Sample& s) {
  StoredRollout r{.step = s.step,
                  .policy_version = s.policy_version,
                  .prompt_index = s.prompt_index,
                  .group_index = s.group_index,
                  .sample_index = s.sample_index,
                  .prompt = s.prompt,
                  .completion = s.completion,
                  .prompt_tokens = static_cast<int64_t>(s.prompt_ids.size()),
                  .completion_tokens = static_cast<int64_t>(s.token_ids.size()),
                  .finish_reason = s.finish_reason,
                  .reward_components = {},
                  .total_reward = s.reward.total,
                  .advantage = s.advantage,
                  .old_logprob = summarize_logprobs(s.logprobs),
                  .generation_ms = s.generation_ms,
                  .reference_answer = s.reference_answer,
                  .discard_reason = s.discard_reason};
  for (const ComponentScore& c : s.reward.components) r.reward_components.emplace_back(c.name, c.score);
  return r;
}

Status RolloutStore::append(const std::vector<Sample>& samples) {
  std::vector<StoredRollout> records;
  records.reserve(samples.size());
  for (const Sample& s : samples) records.push_back(stored_rollout(s));
  return append(std::move(records));
}

Status RolloutStore::append(std::vector<StoredRollout> records) {
  for (const StoredRollout& r : records) R1_RETURN_IF_ERROR(validate_rollout(r).with_context(path_));
  if (records.empty()) return flush_error();
  return enqueue(std::move(records)).status();
}

Status RolloutStore::append_metrics(StepMetrics metrics) {
  R1_RETURN_IF_ERROR(validate_metrics(metrics).with_context(path_));
  return enqueue(std::move(metrics)).status();
}

Status RolloutStore::write_run_info(const RunInfo& info) {
  R1_ASSIGN_OR_RETURN(uint64_t seq, enqueue(info));
  return wait_for(seq);
}

Status RolloutStore::flush() {
  uint64_t last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = next_seq_ - 1;
  }
  return wait_for(last);
}

Result<int64_t> RolloutStore::discard_after_step(int64_t step) {
  if (step < -1) return Status::error(path_ + ": discard_after_step: step must be >= -1 (-1 discards everything)");
  auto deleted = std::make_shared<int64_t>(0);
  R1_ASSIGN_OR_RETURN(uint64_t seq, enqueue(Discard{step, deleted}));
  R1_RETURN_IF_ERROR(wait_for(seq));
  return *deleted;
}

Status RolloutStore::flush_error() {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

Status RolloutStore::write_job(Job& job) {
  if (auto* records = std::get_if<std::vector<StoredRollout>>(&job)) return writer_->write_rollouts(*records);
  if (auto* metrics = std::get_if<StepMetrics>(&job)) return writer_->write_metrics(*metrics);
  if (auto* info = std::get_if<RunInfo>(&job)) return writer_->write_run_info(*info);
  Discard& discard = std::get<Discard>(job);
  R1_ASSIGN_OR_RETURN(*discard.deleted, writer_->discard_after_step(discard.after_step));
  return Status();
}

// Takes jobs in order; each job is one transaction. After the first error the
// remaining jobs are dropped and every caller sees that error.
void RolloutStore::writer_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;
    auto [seq, job] = std::move(queue_.front());
    queue_.pop_front();
    bool failed = !error_.ok();
    lock.unlock();
    space_cv_.notify_one();
    Status status = failed ? Status() : write_job(job);
    lock.lock();
    if (!status.ok() && error_.ok()) error_ = status;
    done_seq_ = seq;
    done_cv_.notify_all();
    space_cv_.notify_all();
  }
}

}  // namespace r1
