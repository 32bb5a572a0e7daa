// All-reduce bandwidth through train/process_group.h, the path the
// data-parallel trainers' gradients take. Run as the ranks of a run:
//   torchrun --nproc-per-node 2 --no-python build/train/allreduce_bench
// (or RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT by hand, or srun). Rank 0
// prints one JSON line per size: seconds per all-reduce, algbw = bytes / s
// and busbw = algbw * 2 (n - 1) / n, nccl-tests' convention, which a ring
// all-reduce keeps constant in n so one figure compares across world sizes.
// --path grads times the gradients' own path (train/grad_buckets.h: buckets
// that .grad are views of, all in flight at once, no copies) rather than
// ProcessGroup::all_reduce (buckets copied into flat buffers, two in flight).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

#include "model/device.h"
#include "train/grad_buckets.h"
#include "train/process_group.h"

int main(int argc, char** argv) {
  CLI::App app{"all-reduce bandwidth over the run's process group"};
  std::vector<double> sizes = {1, 4, 16, 64, 256};
  std::string device = "cpu", backend = "auto";
  int repeats = 5;
  int tensors = 1;
  std::string path = "blocking";
  double bucket_cap_mb = 25;
  app.add_option("--sizes-mb", sizes, "Comma-separated fp32 buffer sizes in MB")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--device", device, "cpu | cuda | cuda:N (cuda: the GPU of LOCAL_RANK)")->capture_default_str();
  app.add_option("--backend", backend, "ddp_backend: auto | nccl | gloo")->capture_default_str();
  app.add_option("--bucket-cap-mb", bucket_cap_mb, "ddp_bucket_cap_mb")->capture_default_str();
  app.add_option("--tensors", tensors, "Split each size into this many equal tensors (as gradients come)")
      ->capture_default_str();
  app.add_option("--path", path, "blocking (ProcessGroup::all_reduce) | grads (train/grad_buckets.h)")
      ->check(CLI::IsMember({"blocking", "grads"}))
      ->capture_default_str();
  app.add_option("--repeats", repeats, "Timed all-reduces per size, after one warm-up")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  r1::ProcessInfo p = r1::value_or_throw(r1::process_info_from_env());
  at::Device dev = r1::value_or_throw(r1::resolve_device(device, p.local_rank));
  auto group = r1::value_or_throw(r1::ProcessGroup::join(p, {120, backend, bucket_cap_mb}, dev));
  const double n = static_cast<double>(p.world_size);
  for (double mb : sizes) {
    const int64_t each = static_cast<int64_t>(mb * 1e6 / sizeof(float) / tensors), elements = each * tensors;
    std::vector<at::Tensor> buffer;  // the tensors, or (--path grads) the parameters whose .grad they are
    for (int i = 0; i < tensors; ++i) buffer.push_back(at::ones({each}, at::TensorOptions(at::kFloat).device(dev)));
    if (path == "grads")
      for (at::Tensor& t : buffer) t.mutable_grad() = at::ones_like(t);
    // Seconds of one all-reduce of the buffer; the gradient buckets' set-up
    // (their buffers, filled from .grad) is outside the time, as backward
    // fills them in a step.
    auto all_reduce = [&] {
      if (path == "blocking") {
        auto start = std::chrono::steady_clock::now();
        r1::throw_if_error(group->all_reduce(buffer, /*mean=*/false));
        return std::chrono::steady_clock::now() - start;
      }
      r1::GradBuckets buckets(*group, buffer, /*grads_in_place=*/true);
      if (dev.is_cuda()) buffer.back().grad().cpu();  // the set-up done on the device first
      auto start = std::chrono::steady_clock::now();
      r1::throw_if_error(buckets.finish());
      return std::chrono::steady_clock::now() - start;
    };
    all_reduce();  // warm-up: connections, allocations
    std::chrono::steady_clock::duration total{};
    for (int i = 0; i < repeats; ++i) total += all_reduce();
    double s = std::chrono::duration<double>(total).count() / repeats;
    double algbw = elements * sizeof(float) / s / 1e9;
    if (p.rank == 0)
      std::printf("{\"ranks\": %lld, \"device\": \"%s\", \"backend\": \"%s\", \"path\": \"%s\", \"mb\": %g, "
                  "\"seconds\": %.6f, \"tensors\": %d, \"algbw_gbs\": %.3f, \"busbw_gbs\": %.3f}\n",
                  static_cast<long long>(p.world_size), dev.str().c_str(),
                  dev.is_cuda() ? group->cuda_backend().c_str() : "gloo", path.c_str(), mb, s, tensors, algbw,
                  algbw * 2 * (n - 1) / n);
  }
  return 0;
}
