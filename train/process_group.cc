#include "train/process_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef R1_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <ATen/cuda/CUDAContext.h>
#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace r1 {

namespace {

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

bool on_this_host(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

std::shared_ptr<gloo::transport::Device> gloo_device(const ProcessInfo& p) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (on_this_host(p.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// Gloo writes to its peers with writev, and the store's server with libuv,
// neither with MSG_NOSIGNAL: a write to a rank that has just died raises
// SIGPIPE, whose default action kills this rank (exit status 141) before its
// collective can report the loss. Python, and so every torchrun rank of
// PyTorch, ignores SIGPIPE from startup; a C++ rank must ignore it itself. A
// handler the program installed is left alone.
void ignore_sigpipe() {
  struct sigaction now {};
  if (::sigaction(SIGPIPE, nullptr, &now) == 0 && now.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
}

}  // namespace

// Through the store, each rank keeps two counters that let a rank whose
// collective failed name the culprits: r1/alive/<r>, bumped every second by a
// heartbeat thread (a rank killed or stopped stops bumping it), and
// r1/entered/<r>, the collectives rank r has entered (a rank alive but stuck
// elsewhere is behind).
constexpr auto kHeartbeat = std::chrono::seconds(1);
constexpr auto kHeartbeatSilence = std::chrono::milliseconds(2500);

std::string key(const char* what, int64_t rank) { return std::string("r1/") + what + "/" + std::to_string(rank); }

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  c10::intrusive_ptr<c10d::Backend> nccl;  // CUDA tensors, when cuda_backend_ is "nccl"
  int64_t entered = 0;  // collectives this rank has entered
  struct Pending {      // start_all_reduce's, until finish_all_reduces
    int64_t number;
    at::Tensor flat;
    c10::intrusive_ptr<c10d::Work> work;  // null when starting it failed
    std::string error;
  };
  std::vector<Pending> pending;
  std::thread heartbeat;
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;

  void beat(int64_t rank) {
    while (true) {
      try {
        store->add(key("alive", rank), 1);
      } catch (const std::exception&) {
        return;  // the store is gone: the next collective reports it
      }
      std::unique_lock<std::mutex> lock(mutex);
      if (wake.wait_for(lock, kHeartbeat, [&] { return stop; })) return;
    }
  }
};

ProcessGroup::ProcessGroup(ProcessInfo process, DdpOptions options, at::Device device)
    : process_(std::move(process)), options_(std::move(options)), device_(device) {}

bool nccl_built() {
#ifdef R1_NCCL
  return true;
#else
  return false;
#endif
}

Result<std::string> cuda_tensor_backend(const std::string& requested, const std::vector<std::string>& rank_devices,
                                        bool nccl_built) {
  R1_RETURN_IF_ERROR(check_ddp_backend(requested));
  if (requested == "gloo") return std::string("gloo");
  const bool need = requested == "nccl";
  auto refuse = [&](const std::string& why) -> Result<std::string> {
    if (need) return Status::error("ddp_backend nccl: " + why + " (ddp_backend gloo works there)");
    return std::string("gloo");
  };
  if (!nccl_built) return refuse("this build of r1 has no NCCL (LibTorch without it, or nccl.h not found)");
  std::string on_cpu;
  std::map<std::string, int64_t> first_rank;
  for (size_t r = 0; r < rank_devices.size(); ++r) {
    const std::string& d = rank_devices[r];
    if (d.find(" cuda") == std::string::npos) on_cpu += (on_cpu.empty() ? "" : ", ") + std::to_string(r);
    else if (auto [it, fresh] = first_rank.emplace(d, static_cast<int64_t>(r)); !fresh)
      return refuse("NCCL needs a GPU per rank, and ranks " + std::to_string(it->second) + " and " +
                    std::to_string(r) + " share one (" + d + ")");
  }
  if (!on_cpu.empty()) return refuse("rank(s) " + on_cpu + " run on the CPU; NCCL moves CUDA tensors only");
  return std::string("nccl");
}

// The heartbeat thread owns a share of Impl and is detached: a store that
// hangs (its host stopped) must not hold up this process's exit.
ProcessGroup::~ProcessGroup() {
  if (!impl_ || !impl_->heartbeat.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->wake.notify_all();
  impl_->heartbeat.detach();
}

Result<std::unique_ptr<ProcessGroup>> ProcessGroup::join(const ProcessInfo& p, const DdpOptions& options,
                                                         at::Device device) {
  if (p.world_size < 2) return Status::error("a process group needs at least 2 processes, this run has 1");
  R1_RETURN_IF_ERROR(check_ddp_options(options));
  ignore_sigpipe();
  const double timeout_s = options.timeout_s;
  std::unique_ptr<ProcessGroup> group(new ProcessGroup(p, options, device));
  group->impl_ = std::make_shared<Impl>();
  const std::string where = "rank " + std::to_string(p.rank) + " of " + std::to_string(p.world_size) + ": ";
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(p.master_port);
    so.isServer = p.rank == 0 && !p.launcher_hosts_store;
    so.numWorkers = static_cast<size_t>(p.world_size);
    so.waitWorkers = false;
    so.timeout = millis(timeout_s);
    group->impl_->store = c10::make_intrusive<c10d::TCPStore>(p.master_addr, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(millis(timeout_s));
    opts->devices.push_back(gloo_device(p));
    group->impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(group->impl_->store, static_cast<int>(p.rank),
                                                                   static_cast<int>(p.world_size), opts);
    std::shared_ptr<Impl> impl = group->impl_;
    impl->heartbeat = std::thread([impl, rank = p.rank] { impl->beat(rank); });
  } catch (const std::exception& e) {
    return Status::error(where + "could not join the other ranks at " + p.master_addr + ":" +
                         std::to_string(p.master_port) + " within " + std::to_string(static_cast<int64_t>(timeout_s)) +
                         " s: " + e.what());
  }
  R1_RETURN_IF_ERROR(group->join_cuda_backend());
  return group;
}

std::map<std::string, double> collective_metrics(const CollectiveTotals& now, CollectiveTotals& before, int64_t steps) {
  const double n = static_cast<double>(std::max<int64_t>(steps, 1));
  std::map<std::string, double> m = {
      {"ddp/all_reduce_mb", static_cast<double>(now.all_reduce - before.all_reduce) / (1e6 * n)},
      {"ddp/all_gather_mb", static_cast<double>(now.all_gather - before.all_gather) / (1e6 * n)},
      {"ddp/broadcast_mb", static_cast<double>(now.broadcast - before.broadcast) / (1e6 * n)},
      {"ddp/gather_mb", static_cast<double>(now.gather - before.gather) / (1e6 * n)},
      {"ddp/all_reduce_wait_s", (now.all_reduce_s - before.all_reduce_s) / n},
      {"ddp/all_gather_wait_s", (now.all_gather_s - before.all_gather_s) / n},
      {"ddp/broadcast_wait_s", (now.broadcast_s - before.broadcast_s) / n},
      {"ddp/gather_wait_s", (now.gather_s - before.gather_s) / n}};
  before = now;
  return m;
}

std::string ProcessGroup::describe() const {
  std::string backend = device_.is_cuda() ? cuda_backend_ : "gloo";
  return std::to_string(world_size()) + " ranks (" + process_.launcher + "), collectives over " + backend;
}

namespace {

// This rank's device as the backend rule compares them: the machine (host
// name and boot id, which containers on one machine share) and, for a GPU,
// its PCI address, which unlike the device index does not depend on
// CUDA_VISIBLE_DEVICES (srun --gpus-per-task shows every rank its GPU as
// cuda:0).
std::string device_identity(const at::Device& device) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::string boot_id;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot_id;
  std::string machine = std::string(host) + "/" + boot_id.substr(0, 8);
  if (!device.is_cuda()) return machine + " cpu";
  const cudaDeviceProp* p = at::cuda::getDeviceProperties(device.index());
  char pci[32];
  std::snprintf(pci, sizeof(pci), "%04x:%02x:%02x", p->pciDomainID, p->pciBusID, p->pciDeviceID);
  return machine + " cuda " + pci;
}

}  // namespace

// Every rank's device identity over Gloo decides the backend of CUDA tensors
// on every rank alike; NCCL's communicator is then made by one one-element
// all-reduce, so a GPU that cannot join fails here.
Status ProcessGroup::join_cuda_backend() {
  R1_ASSIGN_OR_RETURN(std::vector<std::string> devices, all_gather(device_identity(device_)));
  Result<std::string> backend = cuda_tensor_backend(options_.backend, devices, nccl_built());
  if (!backend.ok())
    return Status::error("rank " + std::to_string(rank()) + " of " + std::to_string(world_size()) + ": " +
                         backend.status().message());
  cuda_backend_ = *backend;
  if (cuda_backend_ != "nccl") return Status();
#ifdef R1_NCCL
  try {
    // NCCL's own work that names no tensor (its barrier) runs on the current device.
    if (device_.has_index()) c10::cuda::set_device(device_.index());
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    // NCCL's watchdog aborts the process at its timeout; ours (a blocking
    // wait, see per_bucket) fires first and names the culprits.
    opts->timeout = millis(options_.timeout_s + 60);
    auto store = c10::make_intrusive<c10d::PrefixStore>("nccl", impl_->store);
    impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, static_cast<int>(rank()),
                                                             static_cast<int>(world_size()), opts);
  } catch (const std::exception& e) {
    return Status::error("rank " + std::to_string(rank()) + " of " + std::to_string(world_size()) +
                         ": could not create the NCCL process group on " + device_.str() + ": " + e.what());
  }
  std::vector<at::Tensor> one = {at::ones({1}, at::TensorOptions(at::kFloat).device(device_))};
  return all_reduce(one, /*mean=*/false);
#else
  return Status::error("ddp_backend nccl: this build of r1 has no NCCL");
#endif
}

Status ProcessGroup::run(const char* what, const std::function<void()>& collective) {
  const int64_t number = ++impl_->entered;
  try {
    impl_->store->add(key("entered", rank()), 1);
    collective();
    return Status();
  } catch (const std::exception& e) {
    return collective_error(number, what, e.what());
  }
}

// Gloo reports a closed peer at once and a silent one at the timeout.
Status ProcessGroup::collective_error(int64_t number, const char* what, const std::string& why) {
  return Status::error("rank " + std::to_string(rank()) + " of " + std::to_string(world_size()) + ": " + what +
                       " failed (a rank died or did not answer within " +
                       std::to_string(static_cast<int64_t>(options_.timeout_s)) + " s; " + culprits(number) +
                       "): " + why);
}

std::string ProcessGroup::culprits(int64_t number) {
  try {
    std::vector<int64_t> before(world_size()), entered(world_size());
    for (int64_t r = 0; r < world_size(); ++r) before[r] = impl_->store->add(key("alive", r), 0);
    std::this_thread::sleep_for(kHeartbeatSilence);
    std::string dead, behind;
    for (int64_t r = 0; r < world_size(); ++r) {
      if (r == rank()) continue;
      if (impl_->store->add(key("alive", r), 0) == before[r]) {
        dead += (dead.empty() ? "" : ", ") + std::to_string(r);
      } else if (int64_t at = impl_->store->add(key("entered", r), 0); at < number) {
        behind += (behind.empty() ? "" : ", ") + std::to_string(r) + " (at collective " + std::to_string(at) + ")";
      }
    }
    std::string out;
    if (!dead.empty()) out = "no heartbeat from rank(s) " + dead + ": died or stopped";
    if (!behind.empty())
      out += (out.empty() ? "" : "; ") + std::string("rank(s) ") + behind + " alive but never reached collective " +
             std::to_string(number);
    return out.empty() ? "every rank is alive and reached this collective" : out;
  } catch (const std::exception&) {
    return "the rendezvous store at " + process_.master_addr + ":" + std::to_string(process_.master_port) +
           " does not answer: the process hosting it (rank 0, or torchrun) died";
  }
}

// Buckets of tensors of one device and dtype, each at most
// options_.bucket_cap_mb (a larger tensor alone), each copied into one flat
// buffer for one collective: Gloo's and NCCL's collectives take a list of
// same-shaped tensors (one per device), not a list of different ones. Two
// buckets are in flight at a time, so one bucket's copies overlap the
// other's transfer (Gloo's worker threads, NCCL's stream) while at most two
// buckets' copies exist.
void ProcessGroup::per_bucket(std::vector<at::Tensor>& tensors, double divide_by, const IssueCollective& issue) {
  const int64_t cap_bytes = static_cast<int64_t>(options_.bucket_cap_mb * 1024 * 1024);
  std::map<std::pair<std::string, at::ScalarType>, std::vector<std::vector<at::Tensor*>>> buckets;
  std::map<std::pair<std::string, at::ScalarType>, int64_t> filled;
  for (at::Tensor& t : tensors) {
    auto k = std::make_pair(t.device().str(), t.scalar_type());
    auto& list = buckets[k];
    int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    if (list.empty() || filled[k] + bytes > cap_bytes) list.emplace_back(), filled[k] = 0;
    list.back().push_back(&t);
    filled[k] += bytes;
  }
  // A bucket of one contiguous tensor travels as a view of it: no copies.
  struct InFlight {
    std::vector<at::Tensor*> bucket;
    at::Tensor flat;
    c10::intrusive_ptr<c10d::Work> work;
    bool view = false;
  };
  // A timed wait blocks the host until the collective is done on the device
  // too, or throws at the timeout (NCCL's plain wait would not).
  auto finish = [&](InFlight& f) {
    f.work->wait(millis(options_.timeout_s));
    if (divide_by != 1) f.flat.div_(divide_by);
    if (f.view) return;
    int64_t offset = 0;
    for (at::Tensor* t : f.bucket) {
      t->copy_(f.flat.narrow(0, offset, t->numel()).view(t->sizes()));
      offset += t->numel();
    }
  };
  std::optional<InFlight> previous;
  for (auto& [k, list] : buckets)
    for (auto& bucket : list) {
      InFlight next{bucket, {}, {}, bucket.size() == 1 && bucket[0]->is_contiguous()};
      if (next.view) {
        next.flat = bucket[0]->view({-1});
      } else {
        std::vector<at::Tensor> parts;
        for (at::Tensor* t : bucket) parts.push_back(t->reshape({-1}));
        next.flat = at::cat(parts);
      }
      next.work = issue(next.flat, backend_for(next.flat));
      if (previous) finish(*previous);
      previous = std::move(next);
    }
  if (previous) finish(*previous);
}

namespace {

// Adds the seconds of its scope to `total`.
struct TimeInto {
  explicit TimeInto(double& total) : total(total) {}
  ~TimeInto() { total += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
  double& total;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

int64_t payload_bytes(const std::vector<at::Tensor>& tensors) {
  int64_t n = 0;
  for (const at::Tensor& t : tensors) n += t.numel() * static_cast<int64_t>(t.element_size());
  return n;
}

}  // namespace

c10d::Backend& ProcessGroup::backend_for(const at::Tensor& t) {
  return t.is_cuda() && impl_->nccl ? *impl_->nccl : *impl_->gloo;
}

c10::intrusive_ptr<c10d::Work> ProcessGroup::sum_work(at::Tensor& flat, c10d::Backend& backend) {
  std::vector<at::Tensor> one = {flat};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = millis(options_.timeout_s);
  return backend.allreduce(one, o);
}

Status ProcessGroup::all_reduce(std::vector<at::Tensor>& tensors, bool mean) {
  totals_.all_reduce += payload_bytes(tensors);
  TimeInto time(totals_.all_reduce_s);
  return run("all-reduce", [&] {
    per_bucket(tensors, mean ? static_cast<double>(world_size()) : 1.0,
               [&](at::Tensor& flat, c10d::Backend& backend) { return sum_work(flat, backend); });
  });
}

void ProcessGroup::start_all_reduce(at::Tensor flat) {
  totals_.all_reduce += flat.numel() * static_cast<int64_t>(flat.element_size());
  Impl::Pending p{++impl_->entered, flat, {}, {}};
  try {
    impl_->store->add(key("entered", rank()), 1);
    p.work = sum_work(flat, backend_for(flat));
  } catch (const std::exception& e) {
    p.error = e.what();
  }
  impl_->pending.push_back(std::move(p));
}

Status ProcessGroup::finish_all_reduces() {
  TimeInto time(totals_.all_reduce_s);
  std::vector<Impl::Pending> pending = std::move(impl_->pending);
  impl_->pending.clear();
  for (Impl::Pending& p : pending) {
    try {
      if (p.work) p.work->wait(millis(options_.timeout_s));  // a timed wait: see per_bucket
    } catch (const std::exception& e) {
      p.error = e.what();
    }
    if (!p.error.empty()) return collective_error(p.number, "all-reduce", p.error);
  }
  return Status();
}

Status ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int64_t root) {
  totals_.broadcast += payload_bytes(tensors);
  TimeInto time(totals_.broadcast_s);
  return run("broadcast", [&] {
    per_bucket(tensors, 1.0, [&](at::Tensor& flat, c10d::Backend& backend) {
      std::vector<at::Tensor> one = {flat};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      o.timeout = millis(options_.timeout_s);
      return backend.broadcast(one, o);
    });
  });
}

Status ProcessGroup::send_to_root(std::vector<at::Tensor>& tensors, int64_t from) {
  const bool sends = rank() == from && from != 0, receives = rank() == 0 && from != 0;
  if (sends || receives) totals_.gather += payload_bytes(tensors);
  TimeInto time(totals_.gather_s);
  return run("send to rank 0", [&] {
    if (!sends && !receives) return;
    const int tag = static_cast<int>(impl_->entered);  // this collective's number: the same on both ranks
    for (at::Tensor& t : tensors) {
      std::vector<at::Tensor> one = {t};
      c10d::Backend& backend = backend_for(t);
      auto work = sends ? backend.send(one, 0, tag) : backend.recv(one, static_cast<int>(from), tag);
      work->wait(millis(options_.timeout_s));  // a timed wait: see per_bucket
    }
  });
}

Result<std::vector<std::string>> ProcessGroup::all_gather(const std::string& bytes) {
  std::vector<std::string> out(static_cast<size_t>(world_size()));
  totals_.all_gather += static_cast<int64_t>(bytes.size());
  TimeInto time(totals_.all_gather_s);
  Status status = run("all-gather", [&] {
    // Gloo gathers equal shapes: the lengths first, then buffers padded to the longest.
    auto gather = [&](const at::Tensor& mine) {
      std::vector<std::vector<at::Tensor>> outputs(1);
      for (int64_t r = 0; r < world_size(); ++r) outputs[0].push_back(at::empty_like(mine));
      std::vector<at::Tensor> input = {mine};
      c10d::AllgatherOptions o;
      o.timeout = millis(options_.timeout_s);
      impl_->gloo->allgather(outputs, input, o)->wait(millis(options_.timeout_s));
      return outputs[0];
    };
    std::vector<at::Tensor> lengths = gather(at::tensor({static_cast<int64_t>(bytes.size())}, at::kLong));
    int64_t longest = 0;
    for (const at::Tensor& n : lengths) longest = std::max(longest, n.item<int64_t>());
    at::Tensor mine = at::zeros({std::max<int64_t>(longest, 1)}, at::kByte);
    std::memcpy(mine.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    std::vector<at::Tensor> all = gather(mine);
    for (int64_t r = 0; r < world_size(); ++r)
      out[r].assign(reinterpret_cast<const char*>(all[r].data_ptr<uint8_t>()), lengths[r].item<int64_t>());
  });
  if (!status.ok()) return status;
  return out;
}

Status ProcessGroup::check_same_tensors(const std::string& what, const std::vector<at::Tensor>& tensors) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  for (const at::Tensor& t : tensors) {
    at::Tensor host = t.detach().to(at::kCPU).contiguous();
    EVP_DigestUpdate(sha.get(), host.data_ptr(), host.nbytes());
  }
  std::string digest(EVP_MAX_MD_SIZE, '\0');
  unsigned int length = 0;
  EVP_DigestFinal_ex(sha.get(), reinterpret_cast<unsigned char*>(digest.data()), &length);
  digest.resize(length);
  return check_same(what, digest);
}

Status check_resume_world_size(int64_t saved, int64_t world_size, const std::string& dir) {
  if (saved == world_size) return Status();
  return Status::error(dir + " was written by a run of " + std::to_string(saved) + " rank(s); this run has " +
                       std::to_string(world_size) + ": resume it with " + std::to_string(saved) + " rank(s)");
}

Status ProcessGroup::check_same(const std::string& what, const std::string& value) {
  R1_ASSIGN_OR_RETURN(std::vector<std::string> all, all_gather(value));
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (differ.empty()) return Status();
  return Status::error("rank " + std::to_string(rank()) + " of " + std::to_string(world_size()) + ": " + what +
                       " differs between rank 0 and rank(s) " + differ);
}

}  // namespace r1
