// RolloutStore: the one writer of a run's rollouts.db. Callers queue records
// and metrics; a single writer thread commits each append() in its own
// transaction, so a step appended in one call is either wholly in the file or
// absent. Methods are thread-safe; jobs commit in the order they were queued.
// See docs/rollout_store.md for the schema, durability and resume.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "rollout/rollout_db_writer.h"
#include "rollout/rollout_record.h"
#include "util/status.h"

namespace r1 {

struct RolloutStoreOptions {
  // append() blocks while this many jobs wait for the writer, so a slow disk
  // slows the run instead of growing memory without bound.
  size_t max_queued_jobs = 64;
};

class RolloutStore {
 public:
  // Opens or creates the database at `path` (its folder must exist) and
  // starts the writer thread.
  static Result<std::unique_ptr<RolloutStore>> open(const std::string& path, RolloutStoreOptions options = {});

  // Flushes everything queued, stops the writer; errors go to stderr. Call
  // close() to see them as a Status.
  ~RolloutStore();
  RolloutStore(const RolloutStore&) = delete;
  RolloutStore& operator=(const RolloutStore&) = delete;

  // Replaces the single run_info row; waits for the commit.
  Status write_run_info(const RunInfo& info);

  // Queues records for one transaction; append a whole step in one call so a
  // crash never leaves half a step. Returns an error for an invalid record
  // (nothing queued) or the first error the writer met so far.
  Status append(std::vector<StoredRollout> records);
  Status append(const std::vector<Sample>& samples);  // as stored_rollout() of each
  Status append_metrics(StepMetrics metrics);

  // Blocks until everything queued before the call is committed. The trainer
  // calls it before writing a checkpoint.
  Status flush();

  // Resume from a checkpoint taken at `step`: deletes rollouts and metrics of
  // steps > `step` (written after the checkpoint, about to be regenerated) and
  // records the resume. Returns the number of rollouts deleted.
  Result<int64_t> discard_after_step(int64_t step);

  // Flushes, stops the writer and closes the database; appends after it
  // fail with "rollout store is closed".
  Status close();

  const std::string& path() const { return path_; }

 private:
  struct Discard {
    int64_t after_step;
    std::shared_ptr<int64_t> deleted;
  };
  using Job = std::variant<std::vector<StoredRollout>, StepMetrics, RunInfo, Discard>;

  RolloutStore(std::string path, RolloutStoreOptions options, std::unique_ptr<RolloutDbWriter> writer);
  Result<uint64_t> enqueue(Job job);
  Status wait_for(uint64_t seq);
  Status write_job(Job& job);
  Status flush_error();
  void writer_loop();

  const std::string path_;
  const RolloutStoreOptions options_;
  std::unique_ptr<RolloutDbWriter> writer_;  // owns the connection; used only by thread_

  std::mutex mu_;
  std::condition_variable work_cv_;   // writer waits for jobs
  std::condition_variable space_cv_;  // producers wait for queue room
  std::condition_variable done_cv_;   // flush waits for commits
  std::deque<std::pair<uint64_t, Job>> queue_;
  uint64_t next_seq_ = 1;
  uint64_t done_seq_ = 0;
  Status error_;  // first writer error; sticky so it is never lost
  bool stopping_ = false;
  bool closed_ = false;
  std::thread thread_;
};

}  // namespace r1
