// A wall-clock budget checked between the steps of one answer check. It needs
// no signals, so it works on any thread; work that cannot be interrupted
// (a GiNaC call) is kept small by the complexity limits instead.
#pragma once

#include <chrono>
#include <cstdint>

namespace r1 {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Deadline(int64_t timeout_ms) : end_(Clock::now() + std::chrono::milliseconds(timeout_ms)) {}
  bool expired() const { return Clock::now() >= end_; }
  Clock::time_point end() const { return end_; }

 private:
  Clock::time_point end_;
};

}  // namespace r1
