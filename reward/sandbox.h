// Runs one untrusted program inside a fresh bubblewrap sandbox: no network,
// a read-only /usr, a size-capped private /tmp, its own PID namespace, an
// unprivileged host uid (so RLIMIT_NPROC is enforced), rlimits, a wall-clock
// timeout enforced here and capped output. See docs/code_sandbox.md.
// Thread-safe: many threads may call run_sandboxed at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

struct SandboxOptions {
  double timeout_s = 10.0;         // wall clock, enforced by the parent (kills the sandbox)
  double cpu_s = 0;                // RLIMIT_CPU; 0 = ceil(timeout_s) + 1
  int64_t memory_mb = 1024;        // RLIMIT_AS of every process inside
  int64_t max_processes = 32;      // RLIMIT_NPROC for the sandbox's host uid
  int64_t max_file_mb = 16;        // RLIMIT_FSIZE: largest file a program may write
  int64_t tmp_mb = 64;             // size of the private tmpfs on /tmp
  int64_t max_open_files = 64;     // RLIMIT_NOFILE
  int64_t max_output_bytes = 1 << 20;  // per stream; the rest is read and dropped
  std::string bwrap = "/usr/bin/bwrap";
  // Host uids used for sandboxed processes: each run takes the next uid of
  // [uid_base, uid_base + uid_count) not in use by this process (round
  // robin), so concurrent sandboxes never share a process budget. Chosen far
  // above any real account.
  int64_t uid_base = 1500000000;
  int64_t uid_count = 1000000;
};

// A file placed read-only inside the sandbox (copied through a memfd, so no
// host temp files are involved). `path` must be absolute, e.g. /sandbox/main.py.
struct SandboxFile {
  std::string path;
  std::string content;
};

struct SandboxRequest {
  std::vector<std::string> argv;  // inside the sandbox, argv[0] an absolute path
  std::string stdin_data;
  std::vector<SandboxFile> files;
  // When true the program gets a pipe on fd 3 (results channel, read into
  // SandboxResult::channel) and fd 4 carrying `secret` then EOF.
  bool with_channel = false;
  std::string secret;
};

struct SandboxResult {
  bool started = false;     // the sandbox was set up and the program exec'd
  bool timed_out = false;   // killed by the wall-clock timeout
  int exit_code = -1;       // program's exit code; 128+N when killed by signal N
  std::string stdout_data, stderr_data, channel;
  bool stdout_truncated = false, stderr_truncated = false, channel_truncated = false;
  double wall_s = 0;
  std::string setup_error;  // why the sandbox could not start (when !started)
};

// Returns an error only for bad requests or host failures (fork, pipe);
// anything the program does is reported in SandboxResult.
Result<SandboxResult> run_sandboxed(const SandboxRequest& request, const SandboxOptions& options);

// Last `max_bytes` of `text`, cut at a line start when possible.
std::string tail_of(const std::string& text, size_t max_bytes);

}  // namespace r1
