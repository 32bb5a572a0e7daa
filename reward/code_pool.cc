#include "reward/code_pool.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

namespace r1 {

int default_code_workers(int workers) {
  if (workers > 0) return workers;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

std::vector<Result<CheckResult>> check_code_batch(const std::vector<CodeProblem>& problems,
                                                  const CodeCheckOptions& options, int workers,
                                                  const std::function<void(size_t)>& on_done) {
  std::vector<std::optional<Result<CheckResult>>> slots(problems.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < problems.size(); i = next++) {
      slots[i].emplace(check_code(problems[i], options));
      if (on_done) on_done(i);
    }
  };
  size_t n = std::min(problems.size(), static_cast<size_t>(default_code_workers(workers)));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  std::vector<Result<CheckResult>> out;
  out.reserve(problems.size());
  for (auto& s : slots) out.push_back(std::move(*s));
  return out;
}

}  // namespace r1
