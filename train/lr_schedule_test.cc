#include "train/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>

namespace r1 {
namespace {

LrSchedule make(LrSchedulerType type, int64_t warmup, int64_t total, double min_rate = 0.0) {
  LrSchedule s;
  s.type = type;
  s.learning_rate = 2.0;
  s.warmup_steps = warmup;
  s.total_steps = total;
  s.min_lr_rate = min_rate;
  return s;
}

TEST(LrSchedule, WarmupStartsAtZeroAndRampsLinearly) {
  for (auto type : {LrSchedulerType::kConstantWithWarmup, LrSchedulerType::kLinear, LrSchedulerType::kCosine}) {
    LrSchedule s = make(type, 4, 20);
    EXPECT_EQ(lr_at(s, 0), 0.0);
    EXPECT_DOUBLE_EQ(lr_at(s, 1), 0.5);
    EXPECT_DOUBLE_EQ(lr_at(s, 3), 1.5);
    EXPECT_DOUBLE_EQ(lr_at(s, 4), 2.0);  // warm-up done: full lr
  }
}

TEST(LrSchedule, ConstantIgnoresWarmup) {
  LrSchedule s = make(LrSchedulerType::kConstant, 4, 20);
  EXPECT_EQ(lr_at(s, 0), 2.0);
  EXPECT_EQ(lr_at(s, 100), 2.0);
}

TEST(LrSchedule, LinearDecaysToZeroAtTotalAndStaysThere) {
  LrSchedule s = make(LrSchedulerType::kLinear, 2, 12);
  EXPECT_DOUBLE_EQ(lr_at(s, 7), 2.0 * 5.0 / 10.0);
  EXPECT_EQ(lr_at(s, 12), 0.0);
  EXPECT_EQ(lr_at(s, 15), 0.0);
}

TEST(LrSchedule, CosineHalfwayIsHalfAndFloorHolds) {
  LrSchedule s = make(LrSchedulerType::kCosine, 2, 12);
  EXPECT_NEAR(lr_at(s, 7), 1.0, 1e-12);
  EXPECT_NEAR(lr_at(s, 12), 0.0, 1e-12);
  LrSchedule f = make(LrSchedulerType::kCosine, 2, 12, 0.1);
  EXPECT_NEAR(lr_at(f, 12), 0.2, 1e-12);
  EXPECT_NEAR(lr_at(f, 7), 2.0 * (0.5 * 0.9 + 0.1), 1e-12);
  EXPECT_NEAR(lr_at(f, 2), 2.0, 1e-12);
}

TEST(LrSchedule, ParsesNamesAndRejectsUnknown) {
  EXPECT_EQ(*parse_lr_scheduler_type("cosine_with_min_lr"), LrSchedulerType::kCosine);
  auto bad = parse_lr_scheduler_type("cosin");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("cosin"), std::string::npos);
}

TEST(LrSchedule, WarmupRatioRoundsUp) {
  EXPECT_EQ(warmup_steps_for(0, 0.1, 25), 3);
  EXPECT_EQ(warmup_steps_for(5, 0.1, 25), 5);
  EXPECT_EQ(warmup_steps_for(0, 0.0, 25), 0);
}

}  // namespace
}  // namespace r1
