// TensorBoard event files, the log format TensorBoard, tbparse and most
// experiment trackers read: `report_to: ["tensorboard"]` (TRL's key) writes
// one beside metrics.jsonl, in <output_dir>/runs/, with every numeric
// metric of each logged step as a scalar. Written by hand (a TFRecord of
// Event protobufs, about a hundred lines) rather than linking TensorFlow or
// protobuf for it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace r1 {

class TensorBoardLog {
 public:
  // A new events.out.tfevents.<time>.<host>.<pid> file in `dir` (made if
  // missing). A run resumed at `resume_step` > 0 first records a session
  // start there, which makes TensorBoard drop what an earlier file logged
  // for that step and later ones (those steps are about to run again, as
  // metrics.jsonl drops its lines after the checkpoint).
  static Result<TensorBoardLog> open(const std::string& dir, int64_t resume_step);
  TensorBoardLog(TensorBoardLog&& other) noexcept;
  TensorBoardLog& operator=(TensorBoardLog&& other) noexcept;
  ~TensorBoardLog();

  // One step's scalars, flushed so a live TensorBoard sees them.
  Status add_scalars(int64_t step, double wall_time, const std::vector<std::pair<std::string, double>>& scalars);
  const std::string& path() const { return path_; }

 private:
  TensorBoardLog() = default;
  Status write_record(const std::string& event);

  std::string path_;
  std::FILE* file_ = nullptr;
};

// CRC-32C (Castagnoli), as TFRecord frames use; exposed for its test.
uint32_t crc32c(const void* data, size_t size);

}  // namespace r1
