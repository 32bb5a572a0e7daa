// Hostile programs against the sandbox. Every hostile program is bounded by
// itself too (stops after N forks / a few seconds), so a containment failure
// cannot take the shared machine down.
#include "reward/sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

namespace r1 {
namespace {

// A uid block of our own, so process scans see only this test's sandboxes.
SandboxOptions test_options() {
  SandboxOptions o;
  o.timeout_s = 10;
  o.memory_mb = 512;
  o.uid_count = 4096;
  o.uid_base = 1600000000 + static_cast<int64_t>(getpid() % 100000) * 4096;
  return o;
}

SandboxResult run_py(const std::string& code, const SandboxOptions& o, const std::string& input = "") {
  SandboxRequest req;
  req.argv = {"/usr/bin/python3", "-I", "-S", "-B", "/sandbox/main.py"};
  req.files = {{"/sandbox/main.py", code}};
  req.stdin_data = input;
  auto r = run_sandboxed(req, o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : SandboxResult{};
}

// Live (non-zombie) host processes whose real uid is in our sandbox uid
// block. The sandbox's dead pid 1 may linger as a zombie until host init
// reaps it; it runs nothing and holds no memory.
int sandbox_processes(const SandboxOptions& o) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::ifstream status(e.path() / "status");
    std::string line;
    bool zombie = false;
    while (std::getline(status, line)) {
      if (line.rfind("State:", 0) == 0) zombie = line.find('Z') != std::string::npos;
      if (line.rfind("Uid:", 0) != 0) continue;
      int64_t uid = std::atoll(line.c_str() + 4);
      if (!zombie && uid >= o.uid_base && uid < o.uid_base + o.uid_count) {
        ++n;
        std::ifstream st(e.path() / "status");
        std::string all((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
        std::cerr << all.substr(0, 300) << "\n";
      }
      break;
    }
  }
  return n;
}

TEST(Sandbox, RunsPythonWithStdinAndCleanEnvironment) {
  setenv("R1_HOST_SECRET", "hunter2", 1);
  int leaked = open("README.md", O_RDONLY);  // no O_CLOEXEC: must still not reach the sandbox
  auto r = run_py(
      "import os, sys\n"
      "print(sys.stdin.read().upper(), end='')\n"
      "print(os.getuid(), os.getgid(), sorted(os.environ), os.getcwd())\n"
      "print(sorted(os.listdir('/proc/self/fd')))\n",
      test_options(), "hello\n");
  if (leaked >= 0) close(leaked);
  ASSERT_TRUE(r.started) << r.setup_error;
  EXPECT_EQ(r.exit_code, 0) << r.stderr_data;
  EXPECT_EQ(r.stdout_data,
            "HELLO\n65534 65534 ['HOME', 'LANG', 'PATH', 'PWD'] /tmp\n['0', '1', '2', '3']\n");  // 3: listdir's own fd
}

TEST(Sandbox, ReportsExitCodeAndStderr) {
  auto r = run_py("import sys\nsys.stderr.write('boom')\nsys.exit(3)\n", test_options());
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.stderr_data, "boom");
}

TEST(Sandbox, MissingBwrapIsASetupError) {
  SandboxOptions o = test_options();
  o.bwrap = "/nonexistent/bwrap";
  auto r = run_py("print(1)\n", o);
  EXPECT_FALSE(r.started);
  EXPECT_NE(r.setup_error.find("cannot exec bwrap"), std::string::npos) << r.setup_error;
}

TEST(Sandbox, ProcessLimitAppliesInside) {
  // Bounded check before any fork bomb: 200 sleeping children, limit 32
  // (they are killed with the namespace when the parent exits).
  SandboxOptions o = test_options();
  o.max_processes = 32;
  auto r = run_py(
      "import os, time\nok = fail = 0\n"
      "for i in range(200):\n"
      "    try:\n        pid = os.fork()\n    except OSError:\n        fail += 1\n        continue\n"
      "    if pid == 0:\n        time.sleep(10)\n        os._exit(0)\n"
      "    ok += 1\n"
      "print(ok, fail)\n",
      o);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_data;
  int ok = 0, fail = 0;
  ASSERT_EQ(sscanf(r.stdout_data.c_str(), "%d %d", &ok, &fail), 2) << r.stdout_data;
  EXPECT_LT(ok, 32);
  EXPECT_GT(fail, 160);
}

TEST(Sandbox, ForkBombIsContained) {
  SandboxOptions o = test_options();
  o.max_processes = 32;
  o.timeout_s = 2;
  // Every process forks in a loop; all stop on their own after 4 s or 300 forks.
  auto r = run_py(
      "import os, time\nt0 = time.time()\nn = 0\n"
      "while time.time() - t0 < 4 and n < 300:\n"
      "    try:\n        os.fork()\n        n += 1\n    except OSError:\n        time.sleep(0.01)\n",
      o);
  EXPECT_TRUE(r.started);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(sandbox_processes(o), 0);
  auto after = run_py("print('alive')\n", o);
  EXPECT_EQ(after.stdout_data, "alive\n");
}

TEST(Sandbox, InfiniteLoopTimesOut) {
  SandboxOptions o = test_options();
  o.timeout_s = 1;
  auto r = run_py("while True:\n    pass\n", o);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(sandbox_processes(o), 0);
}

TEST(Sandbox, CpuLimitKillsBusyChildrenToo) {
  SandboxOptions o = test_options();
  o.timeout_s = 20;
  o.cpu_s = 1;
  auto r = run_py("import time\nt0 = time.time()\nwhile time.time() - t0 < 15:\n    pass\nprint('finished')\n", o);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_TRUE(r.exit_code == 128 + SIGXCPU || r.exit_code == 128 + SIGKILL) << r.exit_code;
}

TEST(Sandbox, MemoryHogGetsMemoryError) {
  SandboxOptions o = test_options();
  o.memory_mb = 256;
  auto r = run_py("chunks = []\nfor i in range(100):\n    chunks.append(bytearray(20 << 20))\nprint('all')\n", o);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_NE(r.stderr_data.find("MemoryError"), std::string::npos) << r.stderr_data;
}

TEST(Sandbox, DiskFillerIsCappedAndStaysInside) {
  SandboxOptions o = test_options();
  o.max_file_mb = 8;
  o.tmp_mb = 32;
  std::string marker = "/tmp/r1_sandbox_filler_" + std::to_string(getpid());
  auto r = run_py(
      "import os\n"
      "def fill(path, mb):\n"
      "    n = 0\n"
      "    try:\n"
      "        with open(path, 'wb') as f:\n"
      "            for i in range(mb):\n                f.write(b'x' * (1 << 20))\n                n += 1\n"
      "    except OSError as e:\n        return '%d:%d' % (n, e.errno)\n"
      "    return '%d:ok' % n\n"
      "print(fill('" +
          marker +
          "', 100))\n"
          "print([fill('/tmp/f%d' % i, 7) for i in range(6)])\n"
          "for p in ['/usr/x', '/sandbox/x', '/x']:\n"
          "    try:\n        open(p, 'w')\n        print('wrote', p)\n    except OSError as e:\n        "
          "print('denied', e.errno)\n",
      o);
  ASSERT_EQ(r.exit_code, 0) << r.stderr_data;
  // EFBIG (27) at the 8 MB file limit, ENOSPC (28) once the 32 MB tmpfs is full.
  EXPECT_EQ(r.stdout_data.substr(0, r.stdout_data.find('\n')), "8:27");
  EXPECT_NE(r.stdout_data.find(":28'"), std::string::npos) << r.stdout_data;
  EXPECT_EQ(r.stdout_data.find("wrote"), std::string::npos) << r.stdout_data;
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(Sandbox, NoNetwork) {
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(srv, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(srv, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  auto r = run_py(
      "import socket\n"
      "for host, port in [('127.0.0.1', " + std::to_string(port) + "), ('1.1.1.1', 80), ('pypi.org', 443)]:\n"
      "    try:\n        socket.create_connection((host, port), timeout=2)\n        print('connected')\n"
      "    except OSError as e:\n        print('failed')\n",
      test_options());
  EXPECT_EQ(r.stdout_data, "failed\nfailed\nfailed\n") << r.stderr_data;
  // The host listener saw no connection.
  fcntl(srv, F_SETFL, O_NONBLOCK);
  EXPECT_LT(accept(srv, nullptr, nullptr), 0);
  close(srv);
}

TEST(Sandbox, HostFilesAreNotVisible) {
  // The checkout's own README (tests run in the repo root) exists on the host.
  std::string readme = (std::filesystem::current_path() / "README.md").string();
  ASSERT_TRUE(std::filesystem::exists(readme));
  auto r = run_py(
      "import os\n"
      "for p in ['" + readme + "', '/root', '/etc/shadow', '/etc/passwd', '/home', '/work']:\n"
      "    print(p, os.path.exists(p))\n"
      "print(sorted(os.listdir('/')))\n",
      test_options());
  EXPECT_EQ(r.stdout_data,
            readme + " False\n/root False\n/etc/shadow False\n/etc/passwd False\n/home False\n"
            "/work False\n['bin', 'dev', 'lib', 'lib64', 'proc', 'sandbox', 'sbin', 'tmp', 'usr']\n")
      << r.stderr_data;
}

TEST(Sandbox, CannotKillTheHost) {
  std::string host_pid = std::to_string(getpid());
  auto r = run_py(
      "import os, signal\n"
      "for pid in [os.getppid(), " + host_pid + ", 1, -1]:\n"
      "    try:\n        os.kill(pid, signal.SIGKILL)\n        print('sent', pid)\n"
      "    except OSError as e:\n        print('refused', pid, e.errno)\n"
      "print('host pid visible', os.path.exists('/proc/" + host_pid + "'))\n",
      test_options());
  // We are still running; the sandbox's own pid 1 ignores the kill; the host
  // pid is not in the sandbox's PID namespace (ESRCH). kill(-1) takes the
  // program itself down, which is fine.
  EXPECT_NE(r.stdout_data.find("refused " + host_pid + " 3"), std::string::npos) << r.stdout_data;
  auto again = run_py("print('ok')\n", test_options());
  EXPECT_EQ(again.stdout_data, "ok\n");
}

TEST(Sandbox, DaemonDoesNotOutliveTheRun) {
  SandboxOptions o = test_options();
  auto r = run_py(
      "import os, sys, time\n"
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    if os.fork() == 0:\n"
      "        for fd in range(3):\n            os.close(fd)\n"
      "        time.sleep(3)\n"
      "        os._exit(0)\n"
      "    os._exit(0)\n"
      "print('parent done')\n",
      o);
  EXPECT_EQ(r.stdout_data, "parent done\n");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(sandbox_processes(o), 0);
}

TEST(Sandbox, HugeOutputIsCapped) {
  SandboxOptions o = test_options();
  o.max_output_bytes = 1 << 16;
  auto r = run_py("import sys\nfor i in range(2000):\n    sys.stdout.write('x' * 50000)\nprint('end')\n", o);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.stdout_truncated);
  EXPECT_EQ(r.stdout_data.size(), static_cast<size_t>(1 << 16));
}

TEST(Sandbox, ChannelAndSecretReachTheProgram) {
  SandboxRequest req;
  req.argv = {"/usr/bin/python3", "-I", "-S", "-c",
              "import os\ns = os.read(4, 100)\nos.write(3, b'got ' + s)\nprint('stdout')"};
  req.with_channel = true;
  req.secret = "abc123";
  auto r = run_sandboxed(req, test_options());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->channel, "got abc123");
  EXPECT_EQ(r->stdout_data, "stdout\n");
}

TEST(Sandbox, ManyThreadsAtOnce) {
  std::vector<std::string> outs(8);
  std::vector<std::thread> threads;
  SandboxOptions o = test_options();
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { outs[i] = run_py("print(input() * 2)\n", o, std::to_string(i) + "\n").stdout_data; });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(outs[i], std::to_string(i) + std::to_string(i) + "\n");
}

TEST(Sandbox, ManyRunsInARowWithASmallProcessLimit) {
  // The zombie of a finished sandbox's pid 1 counts against its uid until
  // host init reaps it: runs in a row must not inherit that count.
  SandboxOptions o = test_options();
  o.max_processes = 4;
  for (int i = 0; i < 60; ++i) {
    auto r = run_py("pass\n", o);
    ASSERT_TRUE(r.started) << "run " << i << ": " << r.setup_error;
  }
}

TEST(Sandbox, RejectsBadRequests) {
  SandboxRequest req;
  req.argv = {"python3"};
  EXPECT_FALSE(run_sandboxed(req, test_options()).ok());
  req.argv = {"/usr/bin/python3"};
  req.files = {{"/sandbox/../etc/x", ""}};
  EXPECT_FALSE(run_sandboxed(req, test_options()).ok());
}

}  // namespace
}  // namespace r1
