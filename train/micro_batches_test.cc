#include "train/micro_batches.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

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
    auto stats = accumulate_micro_batches({w}, 5, 2, [&](int64_t m) { return linear_loss(w, xs, m); },
                                          {.streams = streams});
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
  auto stats = accumulate_micro_batches({w}, 2, 2, [&](int64_t m) { return linear_loss(w, xs, m); }, {.streams = 1});
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(at::equal(w.grad(), xs[0] + xs[1]));
  EXPECT_EQ(w.grad().scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace r1
