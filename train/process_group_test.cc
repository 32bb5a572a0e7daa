#include "train/process_group.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include "train/train_test_util.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

constexpr const char* kChild = "ProcessGroupChild.Rank";

// A rank started by the tests below (train/train_test_util.h start_rank).
TEST(ProcessGroupChild, Rank) {
  if (!rank_role()) GTEST_SKIP() << "a rank started by the tests below";
  ProcessInfo p = value_or_throw(read_process_info([](const char* n) { return std::getenv(n); }));
  std::string r = rank_role();
  double timeout = r == "collectives" ? 60 : 3;
  auto group = value_or_throw(ProcessGroup::join(p, timeout));
  if (r == "collectives") {
    std::vector<at::Tensor> t = {at::full({3}, static_cast<double>(p.rank + 1)), at::arange(4, at::kDouble) * p.rank};
    Status s = group->all_reduce(t, /*mean=*/false);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(at::equal(t[0], at::full({3}, 3.0)));
    EXPECT_TRUE(at::equal(t[1], at::arange(4, at::kDouble)));
    std::vector<at::Tensor> m = {at::full({2}, static_cast<float>(p.rank))};
    s = group->all_reduce(m, /*mean=*/true);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(at::equal(m[0], at::full({2}, 0.5f)));
    std::vector<at::Tensor> b = {at::full({2}, static_cast<float>(p.rank + 7)), at::full({2, 3}, p.rank * 1.0)};
    s = group->broadcast(b, 1);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_TRUE(at::equal(b[0], at::full({2}, 8.0f)));
    EXPECT_TRUE(at::equal(b[1], at::full({2, 3}, 1.0)));
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
  // "peer_lost": rank 1 joins and then never takes part (the parent kills
  // it with SIGKILL, or leaves it silent); rank 0's all-reduce must fail.
  touch(rank_dir() / ("joined" + std::to_string(p.rank)));
  if (p.rank == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(120));
    return;
  }
  ASSERT_TRUE(wait_for_file(rank_dir() / "go", 60));
  std::vector<at::Tensor> t = {at::ones({8})};
  Status s = group->all_reduce(t, false);
  ASSERT_FALSE(s.ok());
  std::ofstream(rank_dir() / "error") << s.message();
}

TEST(ProcessGroup, TwoRanksOverLoopbackSumAverageBroadcastAndGather) {
  fs::path dir = fresh_test_dir("pg_collectives");
  int port = free_loopback_port();
  pid_t r0 = start_rank(0, 2, port, "collectives", dir, kChild), r1 = start_rank(1, 2, port, "collectives", dir, kChild);
  EXPECT_EQ(exit_code(r0), 0);
  EXPECT_EQ(exit_code(r1), 0);
}

// A rank killed with SIGKILL, or one that stops answering: the other's
// collective fails within the timeout (3 s here) with an error, instead of
// waiting for ever.
void expect_peer_loss_reported(bool kill_peer) {
  fs::path dir = fresh_test_dir(kill_peer ? "pg_killed" : "pg_silent");
  int port = free_loopback_port();
  pid_t r0 = start_rank(0, 2, port, "peer_lost", dir, kChild), r1 = start_rank(1, 2, port, "peer_lost", dir, kChild);
  ASSERT_TRUE(wait_for_file(dir / "joined0", 60) && wait_for_file(dir / "joined1", 60));
  if (kill_peer) {
    ::kill(r1, SIGKILL);
    exit_code(r1);
  }
  touch(dir / "go");
  EXPECT_EQ(exit_code(r0), 0);
  std::ifstream in(dir / "error");
  std::string message((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The error names rank 1: dead (no heartbeat), or alive but never at the collective.
  std::string culprit = kill_peer ? "no heartbeat from rank(s) 1: died or stopped"
                                  : "rank(s) 1 (at collective 0) alive but never reached collective 1";
  EXPECT_EQ(message.rfind("rank 0 of 2: all-reduce failed (a rank died or did not answer within 3 s; " + culprit + "): ",
                          0),
            0u)
      << message;
  if (!kill_peer) {
    ::kill(r1, SIGKILL);
    exit_code(r1);
  }
}

TEST(ProcessGroup, AKilledRankIsAnErrorNotAHang) { expect_peer_loss_reported(true); }
TEST(ProcessGroup, ASilentRankIsAnErrorAtTheTimeout) { expect_peer_loss_reported(false); }

TEST(ProcessGroup, OneProcessOrABadTimeoutIsRefused) {
  EXPECT_EQ(ProcessGroup::join(ProcessInfo{}, 10).status().message(),
            "a process group needs at least 2 processes, this run has 1");
  ProcessInfo two;
  two.world_size = 2;
  EXPECT_EQ(ProcessGroup::join(two, 0).status().message(), "the process group's timeout must be > 0 seconds");
}

}  // namespace
}  // namespace r1
