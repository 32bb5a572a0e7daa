#include "train/run_log.h"

#include <algorithm>
#include <cstdio>

namespace r1 {

Result<MetricsLog> MetricsLog::open(const std::string& output_dir, const TrainerState& state) {
  MetricsLog log;
  log.path_ = output_dir + "/metrics.jsonl";
  log.out_.open(log.path_, std::ios::trunc);
  if (!log.out_) return Status::error(log.path_ + ": cannot open for writing");
  for (const auto& line : state.log_history) log.out_ << line << "\n";
  log.out_.flush();
  return log;
}

Status MetricsLog::append(TrainerState& state, const std::string& json) {
  state.log_history.push_back(json);
  out_ << json << "\n";
  out_.flush();
  if (!out_) return Status::error(path_ + ": write failed");
  return Status();
}

std::string format_duration(double seconds) {
  int64_t s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

std::string progress_bar(int64_t done, int64_t total, int width) {
  int64_t filled = total > 0 ? std::clamp<int64_t>(done * width / total, 0, width) : 0;
  return "[" + std::string(filled, '#') + std::string(width - filled, '-') + "]";
}

}  // namespace r1
