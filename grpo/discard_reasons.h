// Why the learner leaves a sampled completion out of its loss, recorded on
// each Sample (discard_reason) so the rollout store and the inspector can
// show it. No tensors: the trainer calls it once the batch is chosen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rollout/sample.h"

namespace r1 {

// True when the G samples from `begin` all have the same total reward (a
// zero-std group: every advantage is 0).
bool group_is_degenerate(const std::vector<Sample>& samples, size_t begin, int64_t G);

// Sets discard_reason on every sample of a generation (groups of G in
// order): a sample outside `trained` is kDiscardZeroStd when its group is
// degenerate, else kDiscardSurplus (dynamic sampling already had its
// groups); a trained sample that finished by length is kDiscardTruncated
// when mask_truncated_completions drops it from the loss; others get "".
void mark_discarded(std::vector<Sample>& samples, const std::vector<size_t>& trained, int64_t G,
                    bool mask_truncated_completions);

}  // namespace r1
