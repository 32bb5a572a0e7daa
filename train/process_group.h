// The ranks of a data-parallel run as one c10d process group (LibTorch's,
// the engine DDP and FSDP use): rendezvous through a TCPStore at the master
// address, Gloo for CPU tensors. Every collective is bounded by the group's
// timeout, so a rank that died or hangs makes the others fail with an error
// that names it rather than wait for ever. The data-parallel trainers build
// on this.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <vector>

#include "util/process.h"
#include "util/status.h"

namespace r1 {

class ProcessGroup {
 public:
  // Joins the run `process` describes (util/process.h read_process_info):
  // rank 0 hosts the store unless the launcher does (torchrun); every rank
  // waits at most `timeout_s` for the others to arrive, and each collective
  // as long. Gloo binds the interface GLOO_SOCKET_IFNAME names, else
  // loopback when the master is on this host, else the host's own address.
  static Result<std::unique_ptr<ProcessGroup>> join(const ProcessInfo& process, double timeout_s);
  ~ProcessGroup();

  int64_t rank() const { return process_.rank; }
  int64_t world_size() const { return process_.world_size; }

  // In place on every rank: the element-wise sum, or mean, over ranks.
  // Tensors of any shapes; those of one dtype travel as one buffer.
  Status all_reduce(std::vector<at::Tensor>& tensors, bool mean);
  // In place: every rank ends with `root`'s tensors (any shapes).
  Status broadcast(std::vector<at::Tensor>& tensors, int64_t root);
  // Every rank's `bytes` (of any lengths), indexed by rank, on every rank.
  Result<std::vector<std::string>> all_gather(const std::string& bytes);
  // OK on every rank when all ranks passed the same `value`; otherwise an
  // error on every rank naming `what` and the ranks that differ from rank 0.
  Status check_same(const std::string& what, const std::string& value);
  // check_same over a SHA-256 of the tensors' bytes (names in the error only
  // through `what`): every rank must hold the same weights.
  Status check_same_tensors(const std::string& what, const std::vector<at::Tensor>& tensors);

 private:
  ProcessGroup(ProcessInfo process, double timeout_s);
  Status run(const char* what, const std::function<void()>& collective);
  // Which ranks made collective `number` fail, for its error: those whose
  // heartbeat stopped, and those alive that never reached it.
  std::string culprits(int64_t number);

  ProcessInfo process_;
  double timeout_s_;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A checkpoint written by a run of `saved` ranks resumes only with as many:
// an error naming `dir` otherwise.
Status check_resume_world_size(int64_t saved, int64_t world_size, const std::string& dir);

}  // namespace r1
