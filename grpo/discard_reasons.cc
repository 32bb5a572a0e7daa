#include "grpo/discard_reasons.h"

#include "rollout/rollout_record.h"

namespace r1 {

bool group_is_degenerate(const std::vector<Sample>& samples, size_t begin, int64_t G) {
  for (int64_t j = 1; j < G; ++j)
    if (samples[begin + j].reward.total != samples[begin].reward.total) return false;
  return true;
}

void mark_discarded(std::vector<Sample>& samples, const std::vector<size_t>& trained, int64_t G,
                    bool mask_truncated_completions) {
  std::vector<bool> in_batch(samples.size(), false);
  for (size_t i : trained) in_batch[i] = true;
  for (size_t begin = 0; begin + static_cast<size_t>(G) <= samples.size(); begin += static_cast<size_t>(G)) {
    bool degenerate = group_is_degenerate(samples, begin, G);
    for (size_t i = begin; i < begin + static_cast<size_t>(G); ++i) {
      Sample& s = samples[i];
      if (!in_batch[i])
        s.discard_reason = degenerate ? kDiscardZeroStd : kDiscardSurplus;
      else if (mask_truncated_completions && s.finish_reason == "length")
        s.discard_reason = kDiscardTruncated;
      else
        s.discard_reason.clear();
    }
  }
}

}  // namespace r1
