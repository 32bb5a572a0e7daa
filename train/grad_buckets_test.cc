#include "train/grad_buckets.h"

#include <ATen/cuda/CUDAContext.h>
#include <gtest/gtest.h>

#include "train/micro_batches.h"
#include "train/train_test_util.h"

namespace r1 {
namespace {

constexpr const char* kChild = "GradBucketsChild.Rank";

// A small chain of weights 1-4, weight 1 used twice (as tied embeddings
// are), and weight 0 that only micro-batch 0 uses: its gradient is final
// before the last backward starts, and that backward never reports it.
std::vector<at::Tensor> weights(at::ScalarType dtype, at::Device device) {
  at::manual_seed(7);
  std::vector<at::Tensor> w;
  for (int i = 0; i < 5; ++i) w.push_back((at::randn({16, 16}) * 0.3).to(device, dtype).requires_grad_());
  return w;
}

// Rank `rank`'s micro-batch `m`.
at::Tensor loss_of(const std::vector<at::Tensor>& w, int64_t rank, int m) {
  at::manual_seed(100 + 10 * rank + m);
  at::Tensor x = at::randn({4, 16}).to(w[0].device(), w[0].scalar_type());
  at::Tensor h = at::tanh(x.matmul(w[1]));
  h = at::tanh(h.matmul(w[2])) + h.matmul(w[1].t());
  h = at::tanh(h.matmul(w[3])).matmul(w[4]);
  if (m == 0) h = h + x.matmul(w[0]);
  return h.pow(2).sum();
}

// What every rank must end with: both ranks' two micro-batches, each rank's
// summed in order as its stream sums them (fp32), then rank 0's + rank 1's.
std::vector<at::Tensor> expected(at::ScalarType dtype, at::Device device) {
  std::vector<at::Tensor> total;
  for (int64_t rank : {0, 1}) {
    std::vector<at::Tensor> w = weights(dtype, device), sums;
    for (int m : {0, 1}) add_gradients(loss_of(w, rank, m), w, sums);
    if (total.empty()) total = sums;
    else for (size_t i = 0; i < sums.size(); ++i) total[i] = total[i] + sums[i];
  }
  return total;
}

// A rank started by the test below. Roles: "fp32" (gradients into .grad),
// "bf16" (fp32 sums kept apart), "idle1" (rank 1 runs no micro-batch).
TEST(GradBucketsChild, Rank) {
  if (!rank_role()) GTEST_SKIP() << "a rank started by the test below";
  ProcessInfo p = value_or_throw(read_process_info([](const char* n) { return std::getenv(n); }));
  const std::string role = rank_role();
  // On R1_TEST_DEVICE, as the process group's test (two ranks on one GPU
  // go through Gloo, on GPUs of their own through NCCL).
  at::Device device = at::kCPU;
  if (const char* d = std::getenv("R1_TEST_DEVICE"); d && std::string(d) == "cuda")
    device = at::Device(at::kCUDA, static_cast<int8_t>(p.rank % at::cuda::device_count()));
  // 2 KB buckets: each 16 x 16 fp32 gradient (1 KB) shares one with a neighbour.
  auto group = value_or_throw(ProcessGroup::join(p, {60, "auto", 2048.0 / (1024 * 1024)}, device));
  const at::ScalarType dtype = role == "bf16" ? at::kBFloat16 : at::kFloat;
  std::vector<at::Tensor> w = weights(dtype, device), sums;
  GradBuckets buckets(*group, w, /*grads_in_place=*/dtype == at::kFloat);
  ASSERT_EQ(buckets.num_buckets(), 3);
  const bool runs = !(role == "idle1" && p.rank == 1);
  if (runs) {
    GradTarget first = {.sums = dtype == at::kFloat ? nullptr : &sums}, last = first;
    last.buckets = &buckets;
    backward_into(loss_of(w, p.rank, 0), w, first);
    backward_into(loss_of(w, p.rank, 1), w, last);
    // Buckets {w4, w3} and {w2, w1} start inside the backward (the overlap);
    // {w0}, which it never reaches, at finish.
    EXPECT_EQ(buckets.started_in_backward(), 2);
    add_to_grads(w, sums);  // what backward did not move: w0's sum
  }
  Status s = buckets.finish();
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<at::Tensor> want = expected(dtype, device);
  if (role == "idle1") {  // rank 0's gradients alone
    std::vector<at::Tensor> w0 = weights(dtype, device);
    want.clear();
    for (int m : {0, 1}) add_gradients(loss_of(w0, 0, m), w0, want);
  }
  // The gradients are views of their buckets, which the all-reduce summed
  // in place: no second copy of them.
  auto same_buffer = [&](int a, int b) { return w[a].grad().storage().is_alias_of(w[b].grad().storage()); };
  EXPECT_TRUE(same_buffer(4, 3));
  EXPECT_TRUE(same_buffer(2, 1));
  EXPECT_FALSE(same_buffer(3, 2));
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_EQ(w[i].grad().scalar_type(), at::kFloat) << i;
    EXPECT_TRUE(at::equal(w[i].grad(), want[i])) << "weight " << i << ": largest difference "
                                                 << (w[i].grad() - want[i]).abs().max().item<double>();
  }
}

TEST(GradBuckets, TwoRanksSumWhatOneProcessSums) {
  for (const char* role : {"fp32", "bf16", "idle1"}) {
    SCOPED_TRACE(role);
    run_two_ranks(std::string("grad_buckets_") + role, role, kChild);
  }
}

}  // namespace
}  // namespace r1
