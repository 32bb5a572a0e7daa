#include "train/process_group.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <openssl/evp.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <map>

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
  int64_t entered = 0;  // collectives this rank has entered
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

ProcessGroup::ProcessGroup(ProcessInfo process, double timeout_s)
    : process_(std::move(process)), timeout_s_(timeout_s) {}

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

Result<std::unique_ptr<ProcessGroup>> ProcessGroup::join(const ProcessInfo& p, double timeout_s) {
  if (p.world_size < 2) return Status::error("a process group needs at least 2 processes, this run has 1");
  if (!(timeout_s > 0)) return Status::error("the process group's timeout must be > 0 seconds");
  std::unique_ptr<ProcessGroup> group(new ProcessGroup(p, timeout_s));
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
  return group;
}

Status ProcessGroup::run(const char* what, const std::function<void()>& collective) {
  const int64_t number = ++impl_->entered;
  try {
    impl_->store->add(key("entered", rank()), 1);
    collective();
    return Status();
  } catch (const std::exception& e) {
    // Gloo reports a closed peer at once and a silent one at the timeout.
    return Status::error("rank " + std::to_string(rank()) + " of " + std::to_string(world_size()) + ": " + what +
                         " failed (a rank died or did not answer within " +
                         std::to_string(static_cast<int64_t>(timeout_s_)) + " s; " + culprits(number) +
                         "): " + e.what());
  }
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

namespace {

// One flat buffer per dtype, one collective each: Gloo's collectives take a
// list of same-shaped tensors (one per device), not a list of different ones.
void per_dtype_buffer(std::vector<at::Tensor>& tensors, const std::function<void(at::Tensor&)>& collective) {
  std::map<at::ScalarType, std::vector<at::Tensor*>> by_dtype;
  for (at::Tensor& t : tensors) by_dtype[t.scalar_type()].push_back(&t);
  for (auto& [dtype, group] : by_dtype) {
    std::vector<at::Tensor> parts;
    for (at::Tensor* t : group) parts.push_back(t->reshape({-1}));
    at::Tensor flat = at::cat(parts);
    collective(flat);
    int64_t offset = 0;
    for (at::Tensor* t : group) {
      t->copy_(flat.narrow(0, offset, t->numel()).view(t->sizes()));
      offset += t->numel();
    }
  }
}

}  // namespace

Status ProcessGroup::all_reduce(std::vector<at::Tensor>& tensors, bool mean) {
  return run("all-reduce", [&] {
    per_dtype_buffer(tensors, [&](at::Tensor& flat) {
      std::vector<at::Tensor> one = {flat};
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      o.timeout = millis(timeout_s_);
      impl_->gloo->allreduce(one, o)->wait();
      if (mean) flat.div_(static_cast<double>(world_size()));
    });
  });
}

Status ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int64_t root) {
  return run("broadcast", [&] {
    per_dtype_buffer(tensors, [&](at::Tensor& flat) {
      std::vector<at::Tensor> one = {flat};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      o.timeout = millis(timeout_s_);
      impl_->gloo->broadcast(one, o)->wait();
    });
  });
}

Result<std::vector<std::string>> ProcessGroup::all_gather(const std::string& bytes) {
  std::vector<std::string> out(static_cast<size_t>(world_size()));
  Status status = run("all-gather", [&] {
    // Gloo gathers equal shapes: the lengths first, then buffers padded to the longest.
    auto gather = [&](const at::Tensor& mine) {
      std::vector<std::vector<at::Tensor>> outputs(1);
      for (int64_t r = 0; r < world_size(); ++r) outputs[0].push_back(at::empty_like(mine));
      std::vector<at::Tensor> input = {mine};
      c10d::AllgatherOptions o;
      o.timeout = millis(timeout_s_);
      impl_->gloo->allgather(outputs, input, o)->wait();
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
