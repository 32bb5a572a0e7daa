// TRL's `report_to` key of the rl and sft configs: "none", "tensorboard",
// or "all" (every tracker r1 writes: tensorboard). Header-only, so the
// config libraries check it without linking the trainers.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

inline constexpr const char* kReportToHelp =
    "[\"tensorboard\"] (or \"all\") also writes TensorBoard event files in <output_dir>/runs; [] or [\"none\"]: "
    "metrics.jsonl only";

// Other trackers (wandb, mlflow, ...) are an error naming the value:
// metrics.jsonl is always written and each of them can import it.
inline Status check_report_to(const std::vector<std::string>& report_to) {
  for (const std::string& r : report_to)
    if (r != "none" && r != "tensorboard" && r != "all")
      return Status::error("field 'report_to': '" + r +
                           "' is not one r1 writes: use \"tensorboard\", \"all\" or \"none\" (metrics.jsonl is always "
                           "written, and other trackers can import it)");
  return Status();
}

inline bool reports_to_tensorboard(const std::vector<std::string>& report_to) {
  return std::any_of(report_to.begin(), report_to.end(),
                     [](const std::string& r) { return r == "tensorboard" || r == "all"; });
}

}  // namespace r1
