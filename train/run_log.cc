#include "train/run_log.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>

#include "util/json.h"

namespace r1 {

namespace {

// Bytes at the start of `path` that hold history[0..n) line for line, and n.
// A last line without its newline (a write cut short) does not count.
std::pair<uint64_t, size_t> matching_prefix(const std::string& path, const std::vector<std::string>& history) {
  std::ifstream in(path, std::ios::binary);
  uint64_t bytes = 0;
  size_t n = 0;
  std::string line;
  while (n < history.size() && std::getline(in, line) && !in.eof() && line == history[n]) {
    bytes += line.size() + 1;
    ++n;
  }
  return {bytes, n};
}

}  // namespace

Result<MetricsLog> MetricsLog::open(const std::string& output_dir, const TrainerState& state,
                                    const std::vector<std::string>& report_to) {
  R1_RETURN_IF_ERROR(check_report_to(report_to));
  MetricsLog log;
  if (reports_to_tensorboard(report_to)) {
    R1_ASSIGN_OR_RETURN(TensorBoardLog tb,
                        TensorBoardLog::open(output_dir + "/runs", state.global_step > 0 ? state.global_step + 1 : 0));
    log.tensorboard_ = std::move(tb);
  }
  log.path_ = output_dir + "/metrics.jsonl";
  auto [keep_bytes, kept] = matching_prefix(log.path_, state.log_history);
  std::error_code ec;
  if (std::filesystem::exists(log.path_, ec)) std::filesystem::resize_file(log.path_, keep_bytes, ec);
  if (ec) return Status::error(log.path_ + ": cannot cut back to the checkpoint's lines: " + ec.message());
  log.out_.open(log.path_, std::ios::app);
  if (!log.out_) return Status::error(log.path_ + ": cannot open for appending");
  for (size_t i = kept; i < state.log_history.size(); ++i) log.out_ << state.log_history[i] << "\n";
  log.out_.flush();
  if (!log.out_) return Status::error(log.path_ + ": write failed");
  return log;
}

Status MetricsLog::append(TrainerState& state, const std::string& json) {
  state.log_history.push_back(json);
  out_ << json << "\n";
  out_.flush();
  if (!out_) return Status::error(path_ + ": write failed");
  if (!tensorboard_) return Status();
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(json, path_ + " line"));
  int64_t step = doc.HasMember("step") && doc["step"].IsInt64() ? doc["step"].GetInt64() : 0;
  std::vector<std::pair<std::string, double>> scalars;
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it)
    if (it->value.IsNumber() && std::string_view(it->name.GetString()) != "step")
      scalars.emplace_back(it->name.GetString(), it->value.GetDouble());
  double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return tensorboard_->add_scalars(step, now, scalars);
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
