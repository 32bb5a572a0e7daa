// What a trainer logs as it goes: one JSON object per logging event, kept in
// TrainerState::log_history (so a checkpoint carries it) and mirrored to
// <output_dir>/metrics.jsonl, which a resumed run rewrites from that history
// (dropping lines of steps it is about to redo); plus the progress-line bits.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include "train/train_state.h"
#include "util/status.h"

namespace r1 {

class MetricsLog {
 public:
  // Truncates <output_dir>/metrics.jsonl and writes `state`'s history into it.
  static Result<MetricsLog> open(const std::string& output_dir, const TrainerState& state);
  // Adds one JSON object to the history and the file (flushed).
  Status append(TrainerState& state, const std::string& json);

 private:
  std::string path_;
  std::ofstream out_;
};

// "4m05s", "1h02m".
std::string format_duration(double seconds);
// "[#######-------]" of `width` cells, filled done/total.
std::string progress_bar(int64_t done, int64_t total, int width = 20);

}  // namespace r1
