// Deadlines of the rollout wire: the seconds that options give, as a clock
// duration and in the words of the errors that report them ("within 5 s").
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace r1 {

inline std::chrono::milliseconds wire_duration(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

inline std::string within_seconds(double seconds) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "within %g s", seconds);
  return buf;
}

}  // namespace r1
