// What this process is within a run: its rank and the world size (read once
// from the launcher's RANK and WORLD_SIZE, as torchrun sets them), and where
// its executable lives, so built-in files are found relative to it rather
// than through a path compiled into the binary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

struct ProcessInfo {
  int64_t rank = 0;        // RANK; 0 when unset
  int64_t world_size = 1;  // WORLD_SIZE; 1 when unset
  // Only rank 0 writes a run folder (rollouts.db, metrics.jsonl, checkpoints,
  // the final model), so ranks never race on one file.
  bool writes_run_folder() const { return rank == 0; }
};

// From the values of RANK and WORLD_SIZE (nullptr: unset). Errors name the
// variable. A world size other than 1 is an error until data parallelism
// lands (issue 14).
Result<ProcessInfo> parse_process_info(const char* rank, const char* world_size);
// The same from this process's environment: the one place that reads it.
Result<ProcessInfo> process_info_from_env();

// The folder of the running executable (/proc/self/exe), symlinks resolved.
std::string executable_dir();

// Where files that ship with r1 (built-in recipes, reference data) live:
// $env_var when it is set (used as given), else the first of `near_binary`
// (paths relative to executable_dir()) that is a folder, else "".
std::string resource_dir(const char* env_var, const std::vector<std::string>& near_binary);

}  // namespace r1
