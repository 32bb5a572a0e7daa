// The ranks of a data-parallel run as c10d process groups (LibTorch's, the
// engine DDP and FSDP use): rendezvous through a TCPStore at the master
// address, Gloo for CPU tensors and NCCL for CUDA tensors when every rank has
// a GPU of its own. Every collective is bounded by the group's timeout, so a
// rank that died or hangs makes the others fail with an error that names it
// rather than wait for ever (NCCL's own broadcast has no timeout: its waits
// here block the host with one). The data-parallel trainers build on this.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "train/ddp_options.h"
#include "util/process.h"

namespace c10d {
class Backend;
class Work;
}
#include "util/status.h"

namespace r1 {

// The backend for CUDA tensors, from the requested one and every rank's
// device identity (indexed by rank): "<machine> cpu", or "<machine> cuda
// <PCI address>" for a GPU, so that equal strings are one GPU whatever index
// each rank sees it under. "nccl" or "gloo", or an error naming the ranks
// that stand in NCCL's way.
Result<std::string> cuda_tensor_backend(const std::string& requested, const std::vector<std::string>& rank_devices,
                                        bool nccl_built);

// True when this build can create NCCL process groups (LibTorch built with
// NCCL and nccl.h found at build time).
bool nccl_built();

// What this rank's collectives have cost since the join: the payload bytes
// it passed into them (its own tensors' bytes, whatever the backend then
// moves), what a step costs the network, for metrics and for the scaling
// estimates of docs/distributed.md; and the seconds it spent blocked in
// them (the transfer not hidden behind computation, and the wait for slower
// ranks).
struct CollectiveTotals {
  int64_t all_reduce = 0, all_gather = 0, broadcast = 0, gather = 0;
  double all_reduce_s = 0, all_gather_s = 0, broadcast_s = 0, gather_s = 0;
};

// The trainers' per-step metrics of it: ddp/all_reduce_mb (gradients,
// statistics), ddp/all_gather_mb (GRPO's samples), ddp/broadcast_mb (ZeRO
// stage 1's stepped weights), ddp/gather_mb (ZeRO stage 1's optimizer state
// sent to rank 0 at checkpoints), and the seconds blocked in each,
// ddp/all_reduce_wait_s, ddp/all_gather_wait_s, ddp/broadcast_wait_s and
// ddp/gather_wait_s, per step over the `steps` steps since `before`; then
// `before` = `now`.
std::map<std::string, double> collective_metrics(const CollectiveTotals& now, CollectiveTotals& before,
                                                 int64_t steps = 1);

class ProcessGroup {
 public:
  // Joins the run `process` describes (util/process.h read_process_info):
  // rank 0 hosts the store unless the launcher does (torchrun); every rank
  // waits at most `options.timeout_s` for the others to arrive, and each
  // collective as long. Gloo binds the interface GLOO_SOCKET_IFNAME names,
  // else loopback when the master is on this host, else the host's own
  // address. With NCCL, the ranks' communicator is set up here (one small
  // all-reduce), so a rank whose GPU cannot join fails at the start.
  // CUDA tensors on `device`, this rank's, travel by `options.backend`.
  // Sets SIGPIPE to ignored (unless the program handles it): a write to a
  // dead peer must fail a collective, not kill this process.
  static Result<std::unique_ptr<ProcessGroup>> join(const ProcessInfo& process, const DdpOptions& options,
                                                    at::Device device = at::kCPU);
  ~ProcessGroup();

  int64_t rank() const { return process_.rank; }
  int64_t world_size() const { return process_.world_size; }
  // "gloo" or "nccl": what CUDA tensors travel by (CPU tensors: Gloo).
  const std::string& cuda_backend() const { return cuda_backend_; }
  // For the run's log: "2 ranks (torchrun), collectives over gloo" (nccl
  // when this rank's tensors are CUDA tensors that NCCL moves).
  std::string describe() const;
  const CollectiveTotals& totals() const { return totals_; }
  double bucket_cap_mb() const { return options_.bucket_cap_mb; }

  // In place on every rank: the element-wise sum, or mean, over ranks.
  // Tensors of any shapes and devices; those of one device and dtype travel
  // in buckets of at most options.bucket_cap_mb.
  Status all_reduce(std::vector<at::Tensor>& tensors, bool mean);
  // In the background, in place: sums `flat` (one contiguous tensor) over
  // the ranks while this rank goes on (Gloo's worker threads, NCCL's
  // stream), so a bucket of gradients can travel while backward computes
  // the next (train/grad_buckets.h). Every rank must start the same ones in
  // the same order; errors come at finish_all_reduces.
  void start_all_reduce(at::Tensor flat);
  // Waits for every all-reduce start_all_reduce began, in order, each within
  // the timeout: OK, or the first failure, naming the ranks at fault.
  Status finish_all_reduces();
  // In place: every rank ends with `root`'s tensors (any shapes).
  Status broadcast(std::vector<at::Tensor>& tensors, int64_t root);
  // Rank `from`'s tensors into rank 0's `tensors` (there, contiguous
  // tensors of the same shapes and dtypes), point to point: only the two
  // move bytes. Every rank calls it in the same order (the others with any
  // `tensors`, which stay untouched), so a rank that fails to send is named
  // like any collective's.
  Status send_to_root(std::vector<at::Tensor>& tensors, int64_t from);
  // Every rank's `bytes` (of any lengths), indexed by rank, on every rank.
  Result<std::vector<std::string>> all_gather(const std::string& bytes);
  // OK on every rank when all ranks passed the same `value`; otherwise an
  // error on every rank naming `what` and the ranks that differ from rank 0.
  Status check_same(const std::string& what, const std::string& value);
  // check_same over a SHA-256 of the tensors' bytes (names in the error only
  // through `what`): every rank must hold the same weights.
  Status check_same_tensors(const std::string& what, const std::vector<at::Tensor>& tensors);

 private:
  ProcessGroup(ProcessInfo process, DdpOptions options, at::Device device);
  Status run(const char* what, const std::function<void()>& collective);
  // The error of collective `number` (`what`), which failed with `why`.
  Status collective_error(int64_t number, const char* what, const std::string& why);
  // After Gloo's group: agree on cuda_backend_ and, for NCCL, create it.
  Status join_cuda_backend();
  // all_reduce / broadcast: each bucket's flat copy through `issue`, which
  // starts the collective and returns its work; results divided by `divide_by`.
  using IssueCollective = std::function<c10::intrusive_ptr<c10d::Work>(at::Tensor& flat, c10d::Backend& backend)>;
  void per_bucket(std::vector<at::Tensor>& tensors, double divide_by, const IssueCollective& issue);
  // What `t` travels by: NCCL for CUDA tensors when cuda_backend_ is "nccl", else Gloo.
  c10d::Backend& backend_for(const at::Tensor& t);
  // Starts the sum of `flat` over the ranks, in place, on `backend`.
  c10::intrusive_ptr<c10d::Work> sum_work(at::Tensor& flat, c10d::Backend& backend);
  // Which ranks made collective `number` fail, for its error: those whose
  // heartbeat stopped, and those alive that never reached it.
  std::string culprits(int64_t number);

  ProcessInfo process_;
  DdpOptions options_;
  at::Device device_;
  std::string cuda_backend_ = "gloo";
  CollectiveTotals totals_;
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A checkpoint written by a run of `saved` ranks resumes only with as many:
// an error naming `dir` otherwise.
Status check_resume_world_size(int64_t saved, int64_t world_size, const std::string& dir);

}  // namespace r1
