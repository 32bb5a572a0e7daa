// Test helpers for multi-process tests: start this test binary again as the
// ranks of a real process group over loopback, with the variables torchrun
// sets, and wait for them. The child side is a test that reads R1_RANK_ROLE
// (and skips when it is unset) and R1_RANK_DIR, a folder for markers.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace r1 {

// A loopback port nothing listens on now: bound, read and closed again.
inline int free_loopback_port() {
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

// Starts this binary, filtered to `child_test`, as rank `rank` of `world`.
inline pid_t start_rank(int rank, int world, int port, const std::string& role, const std::filesystem::path& dir,
                        const std::string& child_test) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (std::string v : std::vector<std::string>{
           "RANK=" + std::to_string(rank), "WORLD_SIZE=" + std::to_string(world), "LOCAL_RANK=" + std::to_string(rank),
           "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port), "R1_RANK_ROLE=" + role,
           "R1_RANK_DIR=" + dir.string()})
    env.push_back(v);
  std::vector<char*> envp;
  for (std::string& v : env) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string exe = std::filesystem::read_symlink("/proc/self/exe").string(), filter = "--gtest_filter=" + child_test;
  std::vector<char*> argv = {exe.data(), filter.data(), nullptr};
  pid_t pid = 0;
  EXPECT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);
  return pid;
}

inline int exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline std::filesystem::path fresh_test_dir(const std::string& name) {
  std::filesystem::path d = std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// Two ranks of `child_test` in `role` over loopback, in a fresh folder
// `name`, each expected to exit cleanly; the folder.
inline std::filesystem::path run_two_ranks(const std::string& name, const std::string& role, const char* child_test) {
  std::filesystem::path dir = fresh_test_dir(name);
  int port = free_loopback_port();
  pid_t r0 = start_rank(0, 2, port, role, dir, child_test), r1 = start_rank(1, 2, port, role, dir, child_test);
  EXPECT_EQ(exit_code(r0), 0) << "rank 0";
  EXPECT_EQ(exit_code(r1), 0) << "rank 1";
  return dir;
}

// The child's role and marker folder; nullptr / "" in the parent.
inline const char* rank_role() { return std::getenv("R1_RANK_ROLE"); }
inline std::filesystem::path rank_dir() { return std::getenv("R1_RANK_DIR"); }

inline bool wait_for_file(const std::filesystem::path& p, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!std::filesystem::exists(p)) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

inline void touch(const std::filesystem::path& p) { std::ofstream(p) << "1"; }

}  // namespace r1
