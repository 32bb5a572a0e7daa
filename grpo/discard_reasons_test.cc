#include "grpo/discard_reasons.h"

#include <gtest/gtest.h>

#include "rollout/rollout_record.h"

namespace r1 {
namespace {

Sample sample(double reward, const char* finish = "stop") {
  Sample s;
  s.reward.total = reward;
  s.finish_reason = finish;
  return s;
}

TEST(DiscardReasons, NamesZeroStdSurplusAndTruncated) {
  // Three groups of 2: equal rewards (left out), trained, left out by a full batch.
  std::vector<Sample> samples = {sample(1), sample(1), sample(0, "length"), sample(1), sample(0), sample(1)};
  mark_discarded(samples, {2, 3}, 2, true);
  std::vector<std::string> reasons;
  for (const Sample& s : samples) reasons.push_back(s.discard_reason);
  EXPECT_EQ(reasons, (std::vector<std::string>{kDiscardZeroStd, kDiscardZeroStd, kDiscardTruncated, "", kDiscardSurplus,
                                               kDiscardSurplus}));
  mark_discarded(samples, {0, 1, 2, 3, 4, 5}, 2, false);  // everything trained, nothing masked
  for (const Sample& s : samples) EXPECT_EQ(s.discard_reason, "");
}

TEST(DiscardReasons, DegenerateGroupIsEqualRewards) {
  std::vector<Sample> samples = {sample(0.5), sample(0.5), sample(0.5), sample(0.25)};
  EXPECT_TRUE(group_is_degenerate(samples, 0, 3));
  EXPECT_FALSE(group_is_degenerate(samples, 0, 4));
}

}  // namespace
}  // namespace r1
