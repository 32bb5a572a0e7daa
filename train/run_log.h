// What a trainer logs as it goes: one JSON object per logging event, kept in
// TrainerState::log_history (so a checkpoint carries it, as HF's
// trainer_state.json does) and appended to <output_dir>/metrics.jsonl; plus
// the progress-line bits. With report_to ["tensorboard"] (TRL's key) each
// logged object also goes to a TensorBoard event file (train/tensorboard_log.h).
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "train/report_to.h"
#include "train/tensorboard_log.h"
#include "train/train_state.h"
#include "util/status.h"

namespace r1 {

class MetricsLog {
 public:
  // Opens <output_dir>/metrics.jsonl for appending, as the run resumes from
  // `state` (a fresh run: an empty state). The lines the file already holds
  // of that state's history are kept as they are; what follows them was
  // logged after the checkpoint and is dropped, since those steps are about
  // to run again (as rollouts.db drops rollouts after the checkpoint's step;
  // on a fresh start, whatever a run killed before its first checkpoint
  // left). History lines the file lacks are appended. Only the process that
  // writes the run folder opens it (util/process.h).
  // `report_to` (checked by check_report_to) adds a TensorBoard event file
  // in <output_dir>/runs.
  static Result<MetricsLog> open(const std::string& output_dir, const TrainerState& state,
                                 const std::vector<std::string>& report_to = {});
  // Adds one JSON object to the history and the file (flushed); its numeric
  // members, but "step", go to TensorBoard as scalars at its "step".
  Status append(TrainerState& state, const std::string& json);

 private:
  std::string path_;
  std::ofstream out_;
  std::optional<TensorBoardLog> tensorboard_;
};


// "4m05s", "1h02m".
std::string format_duration(double seconds);
// "[#######-------]" of `width` cells, filled done/total.
std::string progress_bar(int64_t done, int64_t total, int width = 20);

}  // namespace r1
