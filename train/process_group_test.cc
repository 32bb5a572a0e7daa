#include "train/process_group.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

namespace r1 {
namespace {

namespace fs = std::filesystem;

// The parent tests below start this binary twice as ranks of a real
// two-process group over loopback; in those children R1_PG_ROLE says what to
// do. Run directly, the child test has nothing to do.
const char* role() { return std::getenv("R1_PG_ROLE"); }

fs::path marker(const char* name) { return fs::path(std::getenv("R1_PG_DIR")) / name; }

void touch(const fs::path& p) { std::ofstream(p) << "1"; }

bool wait_for(const fs::path& p, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!fs::exists(p))
    if (std::chrono::steady_clock::now() > end) return false;
    else std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return true;
}

TEST(ProcessGroupChild, Rank) {
  if (!role()) GTEST_SKIP() << "a rank started by the tests below";
  ProcessInfo p = value_or_throw(read_process_info([](const char* n) { return std::getenv(n); }));
  std::string r = role();
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
    return;
  }
  // "peer_lost": rank 1 joins and then never takes part (the parent kills
  // it with SIGKILL, or leaves it silent); rank 0's all-reduce must fail.
  touch(marker(("joined" + std::to_string(p.rank)).c_str()));
  if (p.rank == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(120));
    return;
  }
  ASSERT_TRUE(wait_for(marker("go"), 60));
  std::vector<at::Tensor> t = {at::ones({8})};
  Status s = group->all_reduce(t, false);
  ASSERT_FALSE(s.ok());
  std::ofstream(marker("error")) << s.message();
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Starts rank `rank` of 2 in `role`, with the launcher's variables as torchrun sets them.
pid_t start_rank(int rank, int port, const std::string& role, const fs::path& dir) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (std::string v : std::vector<std::string>{"RANK=" + std::to_string(rank), "WORLD_SIZE=2", "LOCAL_RANK=" + std::to_string(rank),
                        "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port), "R1_PG_ROLE=" + role,
                        "R1_PG_DIR=" + dir.string()})
    env.push_back(v);
  std::vector<char*> envp, argv;
  for (std::string& v : env) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string exe = fs::read_symlink("/proc/self/exe").string(), filter = "--gtest_filter=ProcessGroupChild.Rank";
  argv = {exe.data(), filter.data(), nullptr};
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);
  return pid;
}

int exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(::testing::TempDir()) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(ProcessGroup, TwoRanksOverLoopbackSumAverageAndBroadcast) {
  fs::path dir = fresh_dir("pg_collectives");
  int port = free_port();
  pid_t r0 = start_rank(0, port, "collectives", dir), r1 = start_rank(1, port, "collectives", dir);
  EXPECT_EQ(exit_code(r0), 0);
  EXPECT_EQ(exit_code(r1), 0);
}

// A rank killed with SIGKILL, or one that stops answering: the other's
// collective fails within the timeout (3 s here) with an error, instead of
// waiting for ever.
void expect_peer_loss_reported(bool kill_peer) {
  fs::path dir = fresh_dir(kill_peer ? "pg_killed" : "pg_silent");
  int port = free_port();
  pid_t r0 = start_rank(0, port, "peer_lost", dir), r1 = start_rank(1, port, "peer_lost", dir);
  ASSERT_TRUE(wait_for(dir / "joined0", 60) && wait_for(dir / "joined1", 60));
  if (kill_peer) {
    ::kill(r1, SIGKILL);
    exit_code(r1);
  }
  touch(dir / "go");
  EXPECT_EQ(exit_code(r0), 0);
  std::ifstream in(dir / "error");
  std::string message((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(message.rfind("rank 0 of 2: all-reduce failed (a rank died or did not answer within 3 s): ", 0), 0u)
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
