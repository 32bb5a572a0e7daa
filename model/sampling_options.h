// The sampling keys every job that generates takes (rl, eval, sample,
// generate and rollout workers), with their one check. No LibTorch, so
// config libraries can check them; model/sampler.h applies them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

struct SamplingOptions {
  double temperature = 1.0;  // 0 selects greedy decoding
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = off
  double top_p = 1.0;        // keep the smallest set with mass >= top_p; 1 = off
  double min_p = 0.0;        // drop tokens below min_p * max prob; 0 = off

  // vLLM's ranges, as config errors say them: "field 'top_p' must be in
  // (0, 1], got 1.5".
  Status validate() const;
  bool greedy() const { return temperature == 0.0; }
};

// Stop strings, checked alike in every command: an empty one (it would
// match everywhere; sampling skips it) is an error naming `key`.
Status check_stop_strings(const std::vector<std::string>& stops, std::string_view key);

}  // namespace r1
