#include "grpo/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "grpo/grpo_config.h"

namespace r1 {
namespace {

double at(const char* type, int64_t step, int64_t warmup, int64_t total) {
  auto m = lr_multiplier(type, step, warmup, total);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? *m : NAN;
}

TEST(LrSchedule, WarmupRisesLinearlyFromZero) {
  for (const char* type : {"linear", "cosine", "constant_with_warmup"}) {
    EXPECT_DOUBLE_EQ(at(type, 0, 4, 20), 0.0) << type;
    EXPECT_DOUBLE_EQ(at(type, 1, 4, 20), 0.25) << type;
    EXPECT_DOUBLE_EQ(at(type, 4, 4, 20), 1.0) << type;
  }
  EXPECT_DOUBLE_EQ(at("constant", 0, 4, 20), 1.0);  // transformers' "constant" has no warmup
}

TEST(LrSchedule, DecayShapes) {
  EXPECT_DOUBLE_EQ(at("linear", 12, 4, 20), 0.5);   // (20 - 12) / (20 - 4)
  EXPECT_DOUBLE_EQ(at("linear", 20, 4, 20), 0.0);
  EXPECT_DOUBLE_EQ(at("linear", 25, 4, 20), 0.0);   // clamped past the end
  EXPECT_NEAR(at("cosine", 12, 4, 20), 0.5, 1e-15);  // half way: cos(π/2)
  EXPECT_NEAR(at("cosine", 8, 4, 20), 0.5 * (1 + std::cos(std::numbers::pi / 4)), 1e-15);
  EXPECT_NEAR(at("cosine", 20, 4, 20), 0.0, 1e-15);
  EXPECT_DOUBLE_EQ(at("constant_with_warmup", 19, 4, 20), 1.0);
}

TEST(LrSchedule, WarmupRatioAndConfig) {
  EXPECT_EQ(resolved_warmup_steps(0.1, 95), 10);  // ceil(9.5)
  EXPECT_EQ(resolved_warmup_steps(10, 95), 10);
  EXPECT_EQ(resolved_warmup_steps(0, 95), 0);
  GRPOConfig c = *grpo_config_preset("dapo");  // lr 1e-6, constant_with_warmup, 10 warmup steps
  EXPECT_DOUBLE_EQ(*learning_rate_at(c, 5, 100), 0.5e-6);
  EXPECT_DOUBLE_EQ(*learning_rate_at(c, 50, 100), 1e-6);
  c.lr_scheduler_type = "step";
  EXPECT_EQ(learning_rate_at(c, 0, 10).status().message(),
            "lr_scheduler_type must be linear, cosine, constant or constant_with_warmup, got 'step'");
}

}  // namespace
}  // namespace r1
