#include "train/micro_batches.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace r1 {
namespace {

// Micro-batch m's loss: sum(w * x_m) over a [4, 8] weight, so its gradient is x_m.
MicroBatchLoss linear_loss(const at::Tensor& w, const std::vector<at::Tensor>& xs, int64_t m) {
  at::Tensor loss = (w * xs[m]).sum();
  return {.loss = loss, .stats = at::stack({loss.detach().to(at::kDouble), at::scalar_tensor(1.0, at::kDouble)})};
}

TEST(MicroBatches, Bf16GradientsAccumulateInFp32) {
  int threads = at::get_num_threads();
  at::set_num_threads(2);  // room for two streams
  at::manual_seed(0);
  at::Tensor w = at::randn({4, 8}).to(at::kBFloat16).requires_grad_();
  std::vector<at::Tensor> xs;
  for (int m = 0; m < 5; ++m) xs.push_back(at::randn({4, 8}).to(at::kBFloat16) * (1.0 + 100.0 * m));
  for (int streams : {1, 2}) {
    w.mutable_grad().reset();
    auto stats = accumulate_micro_batches(
        {w}, std::vector<int64_t>(5, 1), 2, [&](int64_t m) { return linear_loss(w, xs, m); }, {.streams = streams});
    ASSERT_TRUE(stats.ok()) << stats.status().message();
    EXPECT_EQ((*stats)[1].item<double>(), 5.0);  // every micro-batch's statistics, summed
    ASSERT_EQ(w.grad().scalar_type(), at::kFloat) << streams << " streams";
    // The fp32 sum of the bf16 gradients, in the order the streams add them.
    at::Tensor want;
    for (int s = 0; s < streams; ++s) {
      at::Tensor part;
      for (int m = s; m < 5; m += streams) part = part.defined() ? part + xs[m].to(at::kFloat) : xs[m].to(at::kFloat);
      want = want.defined() ? want + part : part;
    }
    EXPECT_TRUE(at::equal(w.grad(), want)) << streams << " streams";
    // Accumulating in bf16 would have lost the small terms beside the large ones.
    at::Tensor in_bf16 = xs[0];
    for (int m = 1; m < 5; ++m) in_bf16 = in_bf16 + xs[m];
    EXPECT_FALSE(at::equal(in_bf16.to(at::kFloat), want));
  }
  at::set_num_threads(threads);
}

TEST(MicroBatches, Fp32GradientsGoStraightIntoGradWithOneStream) {
  at::Tensor w = at::randn({4, 8}).requires_grad_();
  std::vector<at::Tensor> xs = {at::randn({4, 8}), at::randn({4, 8})};
  auto stats =
      accumulate_micro_batches({w}, {1, 1}, 2, [&](int64_t m) { return linear_loss(w, xs, m); }, {.streams = 1});
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(at::equal(w.grad(), xs[0] + xs[1]));
  EXPECT_EQ(w.grad().scalar_type(), at::kFloat);
}

TEST(MicroBatches, OwnersBalanceCostsAndGiveEveryPartOne) {
  EXPECT_EQ(balanced_owners({5, 5, 5, 5, 5}, 2), (std::vector<int>{0, 1, 0, 1, 0}));  // equal: round robin
  EXPECT_EQ(balanced_owners({0, 0, 0}, 3), (std::vector<int>{0, 1, 2}));
  // Round robin would give part 0 {100, 90} and part 1 {10, 20}: 190 against 30.
  EXPECT_EQ(balanced_owners({100, 10, 90, 20}, 2), (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(balanced_owners({7}, 1), (std::vector<int>{0}));
  EXPECT_TRUE(balanced_owners({}, 2).empty());
  // Completion lengths of an RL step: the largest part's load stays within
  // one micro-batch of the mean, and every part runs at least one.
  std::vector<int64_t> costs = {480, 130, 512, 96, 300, 505, 220, 64, 390, 410, 77, 500};
  for (int parts : {2, 3, 4}) {
    std::vector<int> owner = balanced_owners(costs, parts);
    std::vector<int64_t> load(parts, 0), count(parts, 0);
    for (size_t m = 0; m < costs.size(); ++m) load[owner[m]] += costs[m], ++count[owner[m]];
    int64_t total = 0;
    for (int64_t c : costs) total += c;
    EXPECT_LE(*std::max_element(load.begin(), load.end()), total / parts + 512) << parts;
    EXPECT_GE(*std::min_element(count.begin(), count.end()), 1) << parts;
  }
}

// Two streams sum what their balanced owners say, in micro-batch order.
TEST(MicroBatches, StreamsTakeTheirBalancedShare) {
  int threads = at::get_num_threads();
  at::set_num_threads(2);
  at::manual_seed(1);
  at::Tensor w = at::randn({4, 8}).to(at::kBFloat16).requires_grad_();
  std::vector<at::Tensor> xs;
  for (int m = 0; m < 4; ++m) xs.push_back(at::randn({4, 8}).to(at::kBFloat16));
  const std::vector<int64_t> costs = {100, 10, 90, 20};  // stream 0: 0 and 1; stream 1: 2 and 3
  std::vector<int64_t> ran(4, 0);
  auto run = [&](int64_t m) {
    ++ran[m];
    return linear_loss(w, xs, m);
  };
  auto stats = accumulate_micro_batches({w}, costs, 2, run, {.streams = 2});
  at::set_num_threads(threads);
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  EXPECT_EQ(ran, (std::vector<int64_t>{1, 1, 1, 1}));
  auto f = [&](int m) { return xs[m].to(at::kFloat); };
  EXPECT_TRUE(at::equal(w.grad(), (f(0) + f(1)) + (f(2) + f(3))));
}

}  // namespace
}  // namespace r1
