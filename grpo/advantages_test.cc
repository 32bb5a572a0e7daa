#include "grpo/advantages.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace r1 {
namespace {

at::Tensor vec(std::vector<double> v) { return at::tensor(v, at::kDouble); }

void expect_near(const at::Tensor& got, const std::vector<double>& want) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  auto g = got.contiguous();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(g[i].item<double>(), want[i], 1e-12) << "index " << i;
}

std::vector<bool> bools(const at::Tensor& t) {
  std::vector<bool> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t[i].item<bool>());
  return out;
}

AdvantageOutput run(const char* name, const at::Tensor& rewards, int64_t g, const char* scale = "group") {
  auto fn = advantage_estimator(name);
  EXPECT_TRUE(fn.ok());
  auto out = (*fn)(rewards, AdvantageOptions{g, scale, kTrlAdvantageEps});
  EXPECT_TRUE(out.ok()) << out.status().message();
  return *out;
}

// Group 0: [1,0,0,1] mean 0.5, Bessel std sqrt(1/3); group 1: all equal.
const std::vector<double> kRewards = {1, 0, 0, 1, 2, 2, 2, 2};

TEST(Advantages, GroupScaling) {
  auto out = run("grpo", vec(kRewards), 4, "group");
  double a = 0.5 / (std::sqrt(1.0 / 3.0) + 1e-4);
  expect_near(out.advantages, {a, -a, -a, a, 0, 0, 0, 0});
  EXPECT_EQ(bools(out.group_std_zero), (std::vector<bool>{false, true}));
  EXPECT_EQ(bools(out.std_zero), (std::vector<bool>{false, false, false, false, true, true, true, true}));
  EXPECT_DOUBLE_EQ(out.frac_reward_zero_std.item<double>(), 0.5);
  expect_near(out.group_std, {std::sqrt(1.0 / 3.0), 0.0});
}

TEST(Advantages, BatchScalingKeepsGroupMeanUsesGlobalStd) {
  auto out = run("grpo", vec(kRewards), 4, "batch");
  // Global mean 1.25; squared deviations sum to 5.5; Bessel: 5.5 / 7.
  double a = 0.5 / (std::sqrt(5.5 / 7.0) + 1e-4);
  expect_near(out.advantages, {a, -a, -a, a, 0, 0, 0, 0});
  EXPECT_DOUBLE_EQ(out.frac_reward_zero_std.item<double>(), 0.0);  // TRL checks the std it divided by
  EXPECT_EQ(bools(out.group_std_zero), (std::vector<bool>{false, true}));
}

TEST(Advantages, NoScalingOnlyCentres) {
  auto out = run("grpo", vec({3, 1, 0, 0, 0, 5}), 3, "none");
  expect_near(out.advantages, {5.0 / 3, -1.0 / 3, -4.0 / 3, -5.0 / 3, -5.0 / 3, 10.0 / 3});
  EXPECT_DOUBLE_EQ(out.frac_reward_zero_std.item<double>(), 0.0);
}

TEST(Advantages, UnscorableRewardsAreLeftOutAndGetZero) {
  auto out = run("grpo", vec({1, NAN, 0, 0.5}), 4, "group");
  double a = 0.5 / (0.5 + 1e-4);  // scorable [1, 0, 0.5]: mean 0.5, std 0.5
  expect_near(out.advantages, {a, 0, -a, 0});
  // A group with one scorable reward has NaN std: not "zero std", advantage 0.
  auto lone = run("grpo", vec({1, NAN}), 2, "group");
  expect_near(lone.advantages, {0, 0});
  EXPECT_EQ(bools(lone.group_std_zero), (std::vector<bool>{false}));
}

TEST(Advantages, RlooLeaveOneOut) {
  auto out = run("rloo", vec({1, 0, 0, 1, 3, 0, 0, 0}), 4);
  expect_near(out.advantages, {2.0 / 3, -2.0 / 3, -2.0 / 3, 2.0 / 3, 3, -1, -1, -1});
  EXPECT_EQ(bools(out.group_std_zero), (std::vector<bool>{false, false}));
  auto flat = run("rloo", vec({2, 2, 2}), 3);
  expect_near(flat.advantages, {0, 0, 0});
  EXPECT_DOUBLE_EQ(flat.frac_reward_zero_std.item<double>(), 1.0);
  auto nan = run("rloo", vec({1, NAN, 0}), 3);  // baseline over scorable siblings only
  expect_near(nan.advantages, {1, 0, -1});
}

TEST(Advantages, AdvantagesSumToZeroPerGroup) {
  at::manual_seed(0);
  at::Tensor rewards = at::rand({6 * 5}, at::kDouble);
  for (const char* name : {"grpo", "rloo"}) {
    auto out = run(name, rewards, 5);
    EXPECT_LT(out.advantages.view({6, 5}).sum(1).abs().max().item<double>(), 1e-12) << name;
  }
}

TEST(Advantages, Errors) {
  auto fn = *advantage_estimator("grpo");
  EXPECT_EQ(fn(vec({1, 2, 3}), AdvantageOptions{2, "group"}).status().message(),
            "advantages: rewards has 3 entries, expected a positive multiple of num_generations=2");
  EXPECT_EQ(fn(vec({1, 2}), AdvantageOptions{2, "prompt"}).status().message(),
            "advantages: scale_rewards must be 'group', 'batch' or 'none', got 'prompt'");
  EXPECT_FALSE(fn(at::ones({2, 2}), AdvantageOptions{2, "group"}).ok());
  EXPECT_EQ(advantage_estimator("ppo").status().message(), "unknown advantage estimator 'ppo' (known: grpo, rloo)");
}

}  // namespace
}  // namespace r1
