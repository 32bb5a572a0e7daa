#include "reward/batch_scorer.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

namespace r1 {

Result<std::vector<RewardResult>> score_batch(const RewardFunction& fn, const std::vector<RewardInput>& inputs,
                                              int workers) {
  const size_t n = inputs.size();
  size_t threads = workers > 0 ? static_cast<size_t>(workers) : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, std::max<size_t>(n, 1));
  std::vector<std::optional<Result<RewardResult>>> slots(n);
  std::atomic<size_t> next{0};
  // Lowest failing index so far; indices above it need not be scored.
  std::atomic<size_t> first_error{n};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n && i < first_error.load(); i = next.fetch_add(1)) {
      slots[i] = fn.score(inputs[i]);
      if (slots[i]->ok()) continue;
      size_t seen = first_error.load();
      while (i < seen && !first_error.compare_exchange_weak(seen, i)) {
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (first_error.load() < n) return slots[first_error.load()]->status();
  std::vector<RewardResult> out;
  out.reserve(n);
  for (auto& s : slots) out.push_back(std::move(s->value()));
  return out;
}

}  // namespace r1
