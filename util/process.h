// What this process is within a run: its rank, the world size and where the
// ranks meet (read once from what torchrun, Slurm or a user set), and where
// its executable lives, so built-in files are found relative to it rather
// than through a path compiled into the binary.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

struct ProcessInfo {
  int64_t rank = 0;        // this process among all of the run's
  int64_t world_size = 1;  // how many processes the run has
  int64_t local_rank = 0;  // this process among those on its host: the GPU it takes
  // Where the rendezvous store listens (world_size > 1 only).
  std::string master_addr;
  int64_t master_port = 0;
  // "none" (one process, nothing set), "env" (RANK, WORLD_SIZE, ... by
  // hand), "torchrun", or "slurm" (srun's SLURM_* variables).
  std::string launcher = "none";
  // torchrun hosts the TCPStore itself (TORCHELASTIC_USE_AGENT_STORE=True):
  // rank 0 must then join it as a client rather than host it.
  bool launcher_hosts_store = false;
  // Only rank 0 writes a run folder (rollouts.db, metrics.jsonl, checkpoints,
  // the final model), so ranks never race on one file.
  bool writes_run_folder() const { return rank == 0; }
};

// Reads an environment variable; nullptr when unset.
using EnvLookup = std::function<const char*(const char* name)>;

// How the launcher described this process, in torchrun's terms, from
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (torchrun or by
// hand), else from Slurm's SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and
// SLURM_JOB_NODELIST (master: MASTER_ADDR, else the list's first host; port:
// MASTER_PORT, else 15000 + SLURM_JOB_ID % 20000, the same on every rank),
// else one process. Errors name the variable and what it should hold.
Result<ProcessInfo> read_process_info(const EnvLookup& env);

// This process, from its environment: the one place that reads it.
Result<ProcessInfo> process_info_from_env();

// An error naming `command` when the launcher started several ranks of a
// command that runs as one process.
Status one_process_only(const ProcessInfo& p, const std::string& command);

// The host names of a Slurm node list, in order: "gpu[01-03,07],login1"
// gives gpu01, gpu02, gpu03, gpu07, login1 (zero padding kept; several
// bracket groups in one name multiply out). Errors name the list.
Result<std::vector<std::string>> expand_slurm_nodelist(std::string_view list);

// The folder of the running executable (/proc/self/exe), symlinks resolved.
std::string executable_dir();

// Where files that ship with r1 (built-in recipes, reference data) live:
// $env_var when it is set (used as given), else the first of `near_binary`
// (paths relative to executable_dir()) that is a folder, else "".
std::string resource_dir(const char* env_var, const std::vector<std::string>& near_binary);

}  // namespace r1
