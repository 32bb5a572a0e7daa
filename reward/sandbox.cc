#include "reward/sandbox.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>

namespace r1 {
namespace {

using Clock = std::chrono::steady_clock;

// Fixed fd numbers inside the child; files follow from kFirstFileFd.
constexpr int kChannelFd = 3;
constexpr int kSecretFd = 4;
constexpr int kStatusFd = 5;
constexpr int kFirstFileFd = 6;
constexpr int64_t kProcessSpacing = 4096;  // between the uid offsets of two processes

// Closes an fd once; -1 means already closed.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& other) noexcept : fd(other.fd) { other.fd = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Hands out host uids for sandboxes: never one in use by a concurrent run of
// this process, and round-robin over the whole range, so a uid comes back
// only much later. Reusing it at once would be wrong: the zombie of a
// finished sandbox's pid 1 still counts against RLIMIT_NPROC of its uid until
// host init reaps it, which may take a while. Different processes start at
// pid-derived offsets so they rarely meet.
class UidPool {
 public:
  Result<uid_t> acquire(const SandboxOptions& o) {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t start = static_cast<int64_t>(getpid()) * kProcessSpacing;
    for (int64_t tries = 0; tries < o.uid_count; ++tries) {
      uid_t uid = static_cast<uid_t>(o.uid_base + (start + next_++) % o.uid_count);
      if (in_use_.insert(uid).second) return uid;
    }
    return Status::error("sandbox: no free uid in the configured range");
  }
  void release(uid_t uid) {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_.erase(uid);
  }

 private:
  std::mutex mu_;
  int64_t next_ = 0;
  std::set<uid_t> in_use_;
};

UidPool& uid_pool() {
  static UidPool pool;
  return pool;
}

struct UidGuard {
  uid_t uid;
  ~UidGuard() { uid_pool().release(uid); }
};

Result<int> make_memfd(const std::string& content) {
  int fd = static_cast<int>(syscall(SYS_memfd_create, "r1_sandbox", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd < 0) return Status::error(std::string("memfd_create failed: ") + std::strerror(errno));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Status::error(std::string("memfd write failed: ") + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  // Sealed so the program cannot change what it was given (e.g. its stdin).
  fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  lseek(fd, 0, SEEK_SET);
  return fd;
}

Status make_pipe(Fd& read_end, Fd& write_end) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Status::error(std::string("pipe failed: ") + std::strerror(errno));
  read_end.fd = p[0];
  write_end.fd = p[1];
  return Status();
}

std::vector<std::string> bwrap_args(const SandboxRequest& req, const SandboxOptions& o) {
  std::vector<std::string> a = {
      o.bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534",
      "--die-with-parent", "--new-session", "--hostname", "sandbox",
      "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
      "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
      "--proc", "/proc", "--dev", "/dev",
      "--size", std::to_string(o.tmp_mb << 20), "--tmpfs", "/tmp",
      "--json-status-fd", std::to_string(kStatusFd),
      "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
      "--setenv", "HOME", "/tmp", "--chdir", "/tmp"};
  for (size_t i = 0; i < req.files.size(); ++i) {
    a.insert(a.end(), {"--perms", "0444", "--ro-bind-data", std::to_string(kFirstFileFd + static_cast<int>(i)),
                       req.files[i].path});
  }
  // The root tmpfs bwrap builds has no size cap: make it read-only (only
  // the capped /tmp stays writable).
  a.insert(a.end(), {"--remount-ro", "/", "--"});
  a.insert(a.end(), req.argv.begin(), req.argv.end());
  return a;
}

struct ChildSetup {
  std::vector<int> sources;  // parent fds to place at 0,1,2,3,...; -1 leaves the slot closed
  rlimit limits[6];
  int resources[6];
  uid_t uid;
  const char* path;
  char* const* argv;
};

// Runs in the forked child: only async-signal-safe calls until execve.
[[noreturn]] void exec_child(const ChildSetup& s) {
  setpgid(0, 0);
  int n = static_cast<int>(s.sources.size());
  int moved[64];
  for (int i = 0; i < n; ++i) moved[i] = s.sources[i] < 0 ? -1 : fcntl(s.sources[i], F_DUPFD, 100);
  for (int i = 0; i < n; ++i) {
    if (moved[i] < 0) {
      close(i);  // an fd the host left open there must not leak in
    } else if (dup2(moved[i], i) < 0) {
      _exit(126);
    }
  }
  syscall(SYS_close_range, n, ~0U, 0);
  for (int i = 0; i < 6; ++i) {
    if (setrlimit(s.resources[i], &s.limits[i]) != 0) _exit(125);
  }
  if (setgroups(0, nullptr) != 0 || setresgid(s.uid, s.uid, s.uid) != 0 || setresuid(s.uid, s.uid, s.uid) != 0)
    _exit(124);
  char* const envp[] = {nullptr};
  execve(s.path, s.argv, envp);
  const char msg[] = "sandbox: cannot exec bwrap\n";
  (void)!::write(2, msg, sizeof(msg) - 1);
  _exit(127);
}

void fill_limits(ChildSetup& s, const SandboxOptions& o) {
  double cpu = o.cpu_s > 0 ? o.cpu_s : std::ceil(o.timeout_s) + 1;
  rlim_t cpu_soft = static_cast<rlim_t>(std::ceil(cpu));
  auto mb = [](int64_t v) { return static_cast<rlim_t>(v) << 20; };
  int res[6] = {RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_NOFILE, RLIMIT_CORE};
  rlim_t val[6] = {cpu_soft, mb(o.memory_mb), static_cast<rlim_t>(o.max_processes), mb(o.max_file_mb),
                   static_cast<rlim_t>(o.max_open_files), 0};
  for (int i = 0; i < 6; ++i) {
    s.resources[i] = res[i];
    s.limits[i] = {val[i], res[i] == RLIMIT_CPU ? val[i] + 1 : val[i]};
  }
}

// One output stream of the child, read until EOF with a size cap.
struct Stream {
  Fd fd;
  std::string* out;
  bool* truncated;
  size_t cap;
  bool open() const { return fd.fd >= 0; }
  void drain() {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        fd.reset();
        return;
      }
      size_t room = cap > out->size() ? cap - out->size() : 0;
      size_t take = std::min(room, static_cast<size_t>(n));
      out->append(buf, take);
      if (take < static_cast<size_t>(n)) *truncated = true;
    }
  }
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Polls the streams until they all close or `until` passes.
void pump(std::vector<Stream*>& streams, Clock::time_point until) {
  for (;;) {
    pollfd fds[8];
    Stream* owners[8];
    int n = 0;
    for (Stream* s : streams) {
      if (s->open()) {
        fds[n] = {s->fd.fd, POLLIN, 0};
        owners[n++] = s;
      }
    }
    if (n == 0) return;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return;
    int r = ::poll(fds, n, static_cast<int>(std::min<int64_t>(left, 100)));
    if (r < 0 && errno != EINTR) return;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents) owners[i]->drain();
    }
  }
}

// True while `pid` is a live (not zombie) process of host uid `uid`; the uid
// check guards against the pid having been reused by someone else.
bool alive_as(pid_t pid, uid_t uid) {
  std::string path = "/proc/" + std::to_string(pid) + "/status";
  FILE* f = fopen(path.c_str(), "re");
  if (!f) return false;
  char line[256];
  bool live = true, ours = false;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "State:", 6) == 0) live = !strchr(line, 'Z') && !strchr(line, 'X');
    if (strncmp(line, "Uid:", 4) == 0) {
      ours = static_cast<uid_t>(strtoul(line + 4, nullptr, 10)) == uid;
      break;
    }
  }
  fclose(f);
  return live && ours;
}

// The sandbox's pid 1 (bwrap's "child-pid") finishes exiting only after the
// kernel has killed and reaped every process of its PID namespace, so
// waiting for it means no process of the run survives. It is killed if it
// lingers (it is normally exiting already).
void wait_namespace_gone(const std::string& status_json, uid_t uid) {
  size_t at = status_json.find("\"child-pid\":");
  if (at == std::string::npos) return;
  pid_t init = static_cast<pid_t>(strtol(status_json.c_str() + at + 12, nullptr, 10));
  if (init <= 1) return;
  auto start = Clock::now();
  bool killed = false;
  while (alive_as(init, uid)) {
    double waited = seconds_since(start);
    if (waited > 0.2 && !killed) {
      kill(init, SIGKILL);
      killed = true;
    }
    if (waited > 5) return;
    usleep(1000);
  }
}

Status check_request(const SandboxRequest& req, const SandboxOptions& o) {
  if (req.argv.empty() || req.argv[0].empty() || req.argv[0][0] != '/')
    return Status::error("sandbox: argv[0] must be an absolute path inside the sandbox");
  if (req.files.size() > 32) return Status::error("sandbox: at most 32 files per run");
  for (const auto& f : req.files) {
    if (f.path.size() < 2 || f.path[0] != '/' || f.path.find("..") != std::string::npos)
      return Status::error("sandbox: file path '" + f.path + "' must be absolute without '..'");
  }
  if (o.timeout_s <= 0 || o.memory_mb <= 0 || o.max_processes <= 0 || o.max_file_mb <= 0 || o.tmp_mb <= 0 ||
      o.max_open_files < 16 || o.max_output_bytes <= 0 || o.uid_base <= 0 || o.uid_count < 64)
    return Status::error("sandbox: options must be positive (max_open_files >= 16, uid_count >= 64)");
  return Status();
}

}  // namespace

std::string tail_of(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t start = text.size() - max_bytes;
  size_t nl = text.find('\n', start);
  if (nl != std::string::npos && nl + 1 < text.size()) start = nl + 1;
  return text.substr(start);
}

Result<SandboxResult> run_sandboxed(const SandboxRequest& req, const SandboxOptions& o) {
  R1_RETURN_IF_ERROR(check_request(req, o));
  SandboxResult result;
  auto start = Clock::now();

  Fd stdin_fd, out_r, out_w, err_r, err_w, chan_r, chan_w, sec_r, sec_w, st_r, st_w;
  R1_ASSIGN_OR_RETURN(stdin_fd.fd, make_memfd(req.stdin_data));
  R1_RETURN_IF_ERROR(make_pipe(out_r, out_w));
  R1_RETURN_IF_ERROR(make_pipe(err_r, err_w));
  R1_RETURN_IF_ERROR(make_pipe(st_r, st_w));
  if (req.with_channel) {
    R1_RETURN_IF_ERROR(make_pipe(chan_r, chan_w));
    R1_RETURN_IF_ERROR(make_pipe(sec_r, sec_w));
    if (req.secret.size() > 4096) return Status::error("sandbox: secret longer than 4096 bytes");
    if (::write(sec_w.fd, req.secret.data(), req.secret.size()) != static_cast<ssize_t>(req.secret.size()))
      return Status::error("sandbox: cannot write secret pipe");
    sec_w.reset();
  }
  std::vector<std::unique_ptr<Fd>> file_fds;
  for (const auto& f : req.files) {
    R1_ASSIGN_OR_RETURN(int fd, make_memfd(f.content));
    file_fds.push_back(std::make_unique<Fd>(fd));
  }

  ChildSetup setup;
  setup.sources = {stdin_fd.fd, out_w.fd, err_w.fd, chan_w.fd, sec_r.fd, st_w.fd};
  for (auto& f : file_fds) setup.sources.push_back(f->fd);
  fill_limits(setup, o);
  R1_ASSIGN_OR_RETURN(uid_t uid, uid_pool().acquire(o));
  UidGuard uid_guard{uid};
  setup.uid = uid;
  std::vector<std::string> args = bwrap_args(req, o);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  setup.path = o.bwrap.c_str();
  setup.argv = argv.data();

  pid_t pid = fork();
  if (pid < 0) return Status::error(std::string("sandbox: fork failed: ") + std::strerror(errno));
  if (pid == 0) exec_child(setup);
  setpgid(pid, pid);  // also done in the child; whichever runs first wins
  for (Fd* f : {&stdin_fd, &out_w, &err_w, &chan_w, &sec_r, &st_w}) f->reset();
  file_fds.clear();

  std::string status_json;
  bool status_trunc = false;
  size_t cap = static_cast<size_t>(o.max_output_bytes);
  Stream s_out{std::move(out_r), &result.stdout_data, &result.stdout_truncated, cap};
  Stream s_err{std::move(err_r), &result.stderr_data, &result.stderr_truncated, cap};
  Stream s_chan{std::move(chan_r), &result.channel, &result.channel_truncated, cap};
  Stream s_st{std::move(st_r), &status_json, &status_trunc, 65536};
  std::vector<Stream*> streams = {&s_out, &s_err, &s_chan, &s_st};
  for (Stream* s : streams) {
    if (s->open()) fcntl(s->fd.fd, F_SETFL, O_NONBLOCK);
  }

  auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
  pump(streams, deadline);
  int wstatus = 0;
  pid_t got = waitpid(pid, &wstatus, WNOHANG);
  // Pipes closed but bwrap not yet reaped: it exits right after its child.
  while (got == 0 && Clock::now() < deadline) {
    usleep(2000);
    got = waitpid(pid, &wstatus, WNOHANG);
  }
  if (got == 0) {
    result.timed_out = true;
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    // bwrap's death kills the sandbox's pid 1 and with it the namespace;
    // reading until the pipes close waits for those processes to be gone.
    pump(streams, Clock::now() + std::chrono::seconds(2));
  } else {
    pump(streams, Clock::now() + std::chrono::seconds(1));
  }
  if (WIFEXITED(wstatus)) result.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) result.exit_code = 128 + WTERMSIG(wstatus);
  result.started = status_json.find("\"child-pid\"") != std::string::npos;
  wait_namespace_gone(status_json, setup.uid);
  if (!result.started && !result.timed_out) {
    result.setup_error = "bwrap failed (exit " + std::to_string(result.exit_code) + "): " +
                         tail_of(result.stderr_data, 400);
  }
  result.wall_s = seconds_since(start);
  return result;
}

}  // namespace r1
