#include "train/process_group.h"

#include <ATen/cuda/CUDAContext.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "train/train_test_util.h"
#include "util/file.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

constexpr const char* kChild = "ProcessGroupChild.Rank";

// What a rank wrote to `file`; empty when it wrote nothing.
std::string text_of(const fs::path& file) {
  Result<std::string> text = read_file(file.string());
  return text.ok() ? *text : "";
}

// A rank started by the tests below (train/train_test_util.h start_rank).
TEST(ProcessGroupChild, Rank) {
  if (!rank_role()) GTEST_SKIP() << "a rank started by the tests below";
  ProcessInfo p = value_or_throw(read_process_info([](const char* n) { return std::getenv(n); }));
  std::string r = rank_role();
  if (r == "nccl_on_cpu") {
    Result<std::unique_ptr<ProcessGroup>> refused = ProcessGroup::join(p, {60, "nccl", 25});
    ASSERT_FALSE(refused.ok());
    std::ofstream(rank_dir() / ("error" + std::to_string(p.rank))) << refused.status().message();
    return;
  }
  // The collectives run on R1_TEST_DEVICE (scripts/gpu_check.sh sets cuda):
  // rank r on GPU r, or both on GPU 0 when there is one (then through Gloo).
  at::Device device = at::kCPU;
  if (const char* d = std::getenv("R1_TEST_DEVICE"); d && std::string(d) == "cuda")
    device = at::Device(at::kCUDA, static_cast<int8_t>(p.rank % at::cuda::device_count()));
  auto on = at::TensorOptions().device(device);
  double timeout = r == "collectives" || r == "three_senders" ? 60 : 3;
  // A 64-byte bucket cap: the tensors below span several buckets.
  auto group = value_or_throw(ProcessGroup::join(p, {timeout, "auto", 64.0 / (1024 * 1024)}, device));
  if (r == "three_senders") {
    // Ranks 1 and 2 each send rank 0 their tensor (a ZeRO checkpoint of
    // three ranks); the third rank takes no part in a send, yet counts it, so
    // the tags and the collective after them still line up.
    for (int64_t from : {1, 2}) {
      const double mine = p.rank == from ? static_cast<double>(from) : -1.0;
      std::vector<at::Tensor> g = {at::full({3}, mine, on.dtype(at::kDouble))};
      Status s = group->send_to_root(g, from);
      ASSERT_TRUE(s.ok()) << s.message();
      const bool gets = p.rank == 0 || p.rank == from;
      EXPECT_TRUE(at::equal(g[0].cpu(), at::full({3}, gets ? static_cast<double>(from) : -1.0, at::kDouble))) << from;
    }
    std::vector<at::Tensor> sum = {at::full({2}, static_cast<double>(p.rank), on.dtype(at::kDouble))};
    Status s = group->all_reduce(sum, /*mean=*/false);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(at::equal(sum[0].cpu(), at::full({2}, 3.0, at::kDouble)));
    return;
  }
  if (r == "collectives") {
    std::ofstream(rank_dir() / ("backend" + std::to_string(p.rank))) << group->cuda_backend();
    // A write to a peer that has gone is an error (EPIPE), never this rank's
    // death by SIGPIPE, which would pre-empt the collective's report.
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    ::close(pair[1]);
    EXPECT_EQ(::write(pair[0], "x", 1), -1);
    EXPECT_EQ(errno, EPIPE);
    ::close(pair[0]);
    std::vector<at::Tensor> t = {at::full({3}, static_cast<double>(p.rank + 1), on.dtype(at::kDouble)),
                                 at::arange(20, on.dtype(at::kDouble)) * p.rank,
                                 at::full({5}, static_cast<float>(p.rank), on.dtype(at::kFloat))};
    Status s = group->all_reduce(t, /*mean=*/false);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(at::equal(t[0].cpu(), at::full({3}, 3.0)));
    EXPECT_TRUE(at::equal(t[1].cpu(), at::arange(20, at::kDouble)));
    EXPECT_TRUE(at::equal(t[2].cpu(), at::full({5}, 1.0f)));
    std::vector<at::Tensor> m = {at::full({2}, static_cast<float>(p.rank), on)};
    s = group->all_reduce(m, /*mean=*/true);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(at::equal(m[0].cpu(), at::full({2}, 0.5f)));
    std::vector<at::Tensor> b = {at::full({2}, static_cast<float>(p.rank + 7), on),
                                 at::full({2, 30}, p.rank * 1.0, on.dtype(at::kDouble))};
    s = group->broadcast(b, 1);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(at::equal(b[0].cpu(), at::full({2}, 8.0f)));
    EXPECT_TRUE(at::equal(b[1].cpu(), at::full({2, 30}, 1.0)));
    // Rank 1's tensors to rank 0, point to point (ZeRO's checkpoint).
    std::vector<at::Tensor> sent = {at::full({2}, 9.0f, on), at::arange(6, on.dtype(at::kDouble))};
    std::vector<at::Tensor> g = {at::empty({2}, on), at::empty({6}, on.dtype(at::kDouble))};
    if (p.rank == 1) g = sent;
    const int64_t gathered_before = group->totals().gather;
    s = group->send_to_root(g, 1);
    ASSERT_TRUE(s.ok()) << s.message();
    for (size_t i = 0; i < g.size(); ++i) EXPECT_TRUE(at::equal(g[i].cpu(), sent[i].cpu())) << i;
    EXPECT_EQ(group->totals().gather - gathered_before, 2 * 4 + 6 * 8);  // what each of the two passed
    s = group->send_to_root(g, 0);  // rank 0's own: nothing moves
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(group->totals().gather - gathered_before, 2 * 4 + 6 * 8);
    // Byte strings of different lengths (one empty), with NULs kept.
    std::string mine = p.rank == 0 ? std::string("") : std::string("a\0bc", 4);
    Result<std::vector<std::string>> all = group->all_gather(mine);
    ASSERT_TRUE(all.ok()) << all.status().message();
    EXPECT_EQ(*all, (std::vector<std::string>{"", std::string("a\0bc", 4)}));
    EXPECT_TRUE(group->check_same("the weights' digest", "same").ok());
    EXPECT_EQ(group->check_same("the weights' digest", p.rank == 0 ? "x" : "y").message(),
              "rank " + std::to_string(p.rank) + " of 2: the weights' digest differs between rank 0 and rank(s) 1");
    return;
  }
  // "peer_lost", "peer_lost_started": rank 1 joins and then never takes part
  // (the parent kills it with SIGKILL, or leaves it silent); rank 0's
  // all-reduce must fail.
  touch(rank_dir() / ("joined" + std::to_string(p.rank)));
  if (p.rank == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(120));
    return;
  }
  ASSERT_TRUE(wait_for_file(rank_dir() / "go", 60));
  std::vector<at::Tensor> t = {at::ones({8})};
  Status s;
  if (r == "peer_lost_started") {  // two all-reduces started in the background (train/grad_buckets.h)
    group->start_all_reduce(t[0]);
    group->start_all_reduce(at::ones({4}));
    s = group->finish_all_reduces();
  } else {
    s = group->all_reduce(t, false);
  }
  ASSERT_FALSE(s.ok());
  std::ofstream(rank_dir() / "error") << s.message();
}

// Two ranks in `role` over loopback, both to a clean exit; their folder.
fs::path run_two_ranks(const std::string& role) { return r1::run_two_ranks("pg_" + role, role, kChild); }

TEST(ProcessGroup, TwoRanksOverLoopbackSumAverageBroadcastAndGather) {
  fs::path dir = run_two_ranks("collectives");
  // CPU ranks, or two on one GPU: Gloo; two GPUs: NCCL (this build has it).
  const char* device = std::getenv("R1_TEST_DEVICE");
  bool own_gpus = device && std::string(device) == "cuda" && at::cuda::device_count() >= 2 && nccl_built();
  for (int r : {0, 1}) EXPECT_EQ(text_of(dir / ("backend" + std::to_string(r))), own_gpus ? "nccl" : "gloo");
}

// Three ranks (the two tests above run two): point-to-point sends to rank 0
// from each of the others, then an all-reduce.
TEST(ProcessGroup, ThreeRanksSendToRootInTurn) {
  fs::path dir = fresh_test_dir("pg_three_senders");
  int port = free_loopback_port();
  std::vector<pid_t> ranks;
  for (int r = 0; r < 3; ++r) ranks.push_back(start_rank(r, 3, port, "three_senders", dir, kChild));
  for (int r = 0; r < 3; ++r) EXPECT_EQ(exit_code(ranks[r]), 0) << "rank " << r;
}

// ddp_backend nccl with CPU ranks: both ranks refuse at the join, saying why.
TEST(ProcessGroup, NcclOnCpuRanksIsRefusedOnEveryRank) {
  fs::path dir = run_two_ranks("nccl_on_cpu");
  std::string why = nccl_built() ? "rank(s) 0, 1 run on the CPU; NCCL moves CUDA tensors only"
                                 : "this build of r1 has no NCCL (LibTorch without it, or nccl.h not found)";
  for (int r : {0, 1})
    EXPECT_EQ(text_of(dir / ("error" + std::to_string(r))),
              "rank " + std::to_string(r) + " of 2: ddp_backend nccl: " + why + " (ddp_backend gloo works there)");
}

// Identities as device_identity makes them: machine (host/boot id), then
// the GPU's PCI address, so two ranks that each see their GPU as cuda:0
// (CUDA_VISIBLE_DEVICES per rank) are told apart.
TEST(ProcessGroup, CudaTensorBackendFollowsTheRanksDevices) {
  const std::vector<std::string> own = {"a/1f2e3d4c cuda 0000:1b:00", "a/1f2e3d4c cuda 0000:43:00",
                                        "b/9a8b7c6d cuda 0000:1b:00"};
  EXPECT_EQ(*cuda_tensor_backend("auto", own, true), "nccl");
  EXPECT_EQ(*cuda_tensor_backend("nccl", own, true), "nccl");
  EXPECT_EQ(*cuda_tensor_backend("gloo", own, true), "gloo");
  EXPECT_EQ(*cuda_tensor_backend("auto", own, false), "gloo");
  const std::vector<std::string> shared = {"a/1f2e3d4c cuda 0000:1b:00", "b/9a8b7c6d cuda 0000:1b:00",
                                           "a/1f2e3d4c cuda 0000:1b:00"};
  EXPECT_EQ(*cuda_tensor_backend("auto", shared, true), "gloo");
  EXPECT_EQ(cuda_tensor_backend("nccl", shared, true).status().message(),
            "ddp_backend nccl: NCCL needs a GPU per rank, and ranks 0 and 2 share one (a/1f2e3d4c cuda 0000:1b:00) "
            "(ddp_backend gloo works there)");
  const std::vector<std::string> mixed = {"a/1f2e3d4c cuda 0000:1b:00", "a/1f2e3d4c cpu", "b/9a8b7c6d cpu"};
  EXPECT_EQ(*cuda_tensor_backend("auto", mixed, true), "gloo");
  EXPECT_EQ(cuda_tensor_backend("nccl", mixed, true).status().message(),
            "ddp_backend nccl: rank(s) 1, 2 run on the CPU; NCCL moves CUDA tensors only (ddp_backend gloo works "
            "there)");
  EXPECT_EQ(cuda_tensor_backend("mpi", own, true).status().message(),
            "field 'ddp_backend' must be one of 'auto', 'gloo', 'nccl', got 'mpi'");
}

// A rank killed with SIGKILL, or one that stops answering: the other's
// collective fails within the timeout (3 s here) with an error, instead of
// waiting for ever.
void expect_peer_loss_reported(bool kill_peer, const std::string& role = "peer_lost") {
  fs::path dir = fresh_test_dir(std::string(kill_peer ? "pg_killed" : "pg_silent") + "_" + role);
  int port = free_loopback_port();
  pid_t r0 = start_rank(0, 2, port, role, dir, kChild), r1 = start_rank(1, 2, port, role, dir, kChild);
  ASSERT_TRUE(wait_for_file(dir / "joined0", 60) && wait_for_file(dir / "joined1", 60));
  if (kill_peer) {
    ::kill(r1, SIGKILL);
    exit_code(r1);
  }
  touch(dir / "go");
  EXPECT_EQ(exit_code(r0), 0);
  std::ifstream in(dir / "error");
  std::string message((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The error names rank 1: dead (no heartbeat), or alive but never at the
  // collective (the join's exchange of devices was collective 1).
  std::string culprit = kill_peer ? "no heartbeat from rank(s) 1: died or stopped"
                                  : "rank(s) 1 (at collective 1) alive but never reached collective 2";
  EXPECT_EQ(
      message.rfind("rank 0 of 2: all-reduce failed (a rank died or did not answer within 3 s; " + culprit + "): ", 0),
      0u)
      << message;
  if (!kill_peer) {
    ::kill(r1, SIGKILL);
    exit_code(r1);
  }
}

TEST(ProcessGroup, AKilledRankIsAnErrorNotAHang) { expect_peer_loss_reported(true); }
TEST(ProcessGroup, ASilentRankIsAnErrorAtTheTimeout) { expect_peer_loss_reported(false); }
TEST(ProcessGroup, AKilledRankFailsAllReducesStartedInTheBackground) {
  expect_peer_loss_reported(true, "peer_lost_started");
}

TEST(ProcessGroup, OneProcessOrABadTimeoutIsRefused) {
  EXPECT_EQ(ProcessGroup::join(ProcessInfo{}, {10}).status().message(),
            "a process group needs at least 2 processes, this run has 1");
  ProcessInfo two;
  two.world_size = 2;
  EXPECT_EQ(ProcessGroup::join(two, {0}).status().message(), "field 'ddp_timeout' must be > 0 seconds, got 0");
  EXPECT_EQ(ProcessGroup::join(two, {10, "auto", 0}).status().message(),
            "field 'ddp_bucket_cap_mb' must be > 0, got 0");
  EXPECT_EQ(ProcessGroup::join(two, {10, "mpi"}).status().message(),
            "field 'ddp_backend' must be one of 'auto', 'gloo', 'nccl', got 'mpi'");
}

}  // namespace
}  // namespace r1
