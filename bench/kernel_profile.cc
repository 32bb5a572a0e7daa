#include "bench/kernel_profile.h"

#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <vector>

#include "util/json.h"

namespace r1 {

namespace {

namespace profiler = torch::profiler::impl;

std::set<profiler::ActivityType> activities(bool cuda) {
  std::set<profiler::ActivityType> out = {profiler::ActivityType::CPU};
  if (cuda) out.insert(profiler::ActivityType::CUDA);
  return out;
}

// With input shapes: a trace then tells which call of an op costs.
profiler::ProfilerConfig config() {
  return profiler::ProfilerConfig(profiler::ProfilerState::KINETO, /*report_input_shapes=*/true);
}

}  // namespace

void start_kernel_profile(bool cuda) {
  torch::autograd::profiler::prepareProfiler(config(), activities(cuda));
  torch::autograd::profiler::enableProfiler(config(), activities(cuda));
}

void stop_kernel_profile(bool cuda, int top, const std::string& trace) {
  std::unique_ptr<torch::autograd::profiler::ProfilerResult> result = torch::autograd::profiler::disableProfiler();
  struct Total {
    int64_t calls = 0;
    double ns = 0;
  };
  std::map<std::string, Total> totals;
  double all_ns = 0;
  const c10::DeviceType wanted = cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
  for (const auto& e : result->events()) {
    if (e.deviceType() != wanted) continue;
    Total& t = totals[e.name()];
    ++t.calls;
    t.ns += static_cast<double>(e.durationNs());
    all_ns += static_cast<double>(e.durationNs());
  }
  std::vector<std::pair<std::string, Total>> sorted(totals.begin(), totals.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.ns > b.second.ns; });
  for (int i = 0; i < top && i < static_cast<int>(sorted.size()); ++i) {
    const auto& [name, t] = sorted[static_cast<size_t>(i)];
    JsonWriter w;
    w.begin_object().key("profile").value(name.size() > 160 ? name.substr(0, 160) : name);
    w.key("calls").value(t.calls).key("total_ms").value(t.ns / 1e6).key("share").value(t.ns / std::max(all_ns, 1.0));
    w.end_object();
    std::printf("%s\n", w.str().c_str());
  }
  if (cuda) std::printf("{\"profile_gpu_ms\": %.3f}\n", all_ns / 1e6);
  if (!trace.empty()) result->save(trace);
}

}  // namespace r1
