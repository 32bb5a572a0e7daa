#include "train/micro_batches.h"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>

#include "util/cpu_streams.h"

namespace r1 {

namespace {

// `into` += `add`, element-wise; an undefined `into` becomes `add`.
void add_to(at::Tensor& into, const at::Tensor& add) {
  if (add.defined()) into = into.defined() ? into + add : add;
}

}  // namespace

void add_gradients(const at::Tensor& loss, const std::vector<at::Tensor>& params, std::vector<at::Tensor>& sums) {
  auto g = torch::autograd::grad({loss}, params, {}, false, false, /*allow_unused=*/true);
  sums.resize(params.size());
  for (size_t p = 0; p < g.size(); ++p)
    if (g[p].defined()) add_to(sums[p], g[p].scalar_type() == at::kFloat ? g[p] : g[p].to(at::kFloat));
}

void add_to_grads(std::vector<at::Tensor>& params, const std::vector<at::Tensor>& sums) {
  for (size_t p = 0; p < sums.size(); ++p)
    if (sums[p].defined()) add_to(params[p].mutable_grad(), sums[p]);
}

bool grads_accumulate_in_place(const std::vector<at::Tensor>& params) {
  for (const at::Tensor& p : params)
    if (p.scalar_type() != at::kFloat) return false;
  return true;
}

Result<at::Tensor> accumulate_micro_batches(std::vector<at::Tensor> params, int64_t n, int64_t num_stats,
                                            const std::function<MicroBatchLoss(int64_t m)>& run,
                                            const MicroBatchOptions& o) {
  const int64_t rank = o.group ? o.group->rank() : 0, ranks = o.group ? o.group->world_size() : 1;
  std::vector<int64_t> mine;
  for (int64_t m = rank; m < n; m += ranks) mine.push_back(m);
  bool on_cpu = params.empty() || params.front().is_cpu();
  int streams = stream_count(o.streams, on_cpu, std::max<int64_t>(1, static_cast<int64_t>(mine.size())));
  const bool in_place = streams == 1 && grads_accumulate_in_place(params);
  std::vector<std::vector<at::Tensor>> grads(streams);
  std::vector<at::Tensor> stats(mine.size());
  run_streams(streams, [&](int s) {
    for (size_t i = s; i < mine.size(); i += streams) {
      MicroBatchLoss out = run(mine[i]);
      stats[i] = out.stats.detach().to(at::kDouble);
      if (in_place) {
        out.loss.backward();  // one stream of fp32 tensors: straight into .grad
      } else {
        add_gradients(out.loss, params, grads[s]);
      }
    }
  });
  for (const auto& stream_grads : grads) add_to_grads(params, stream_grads);
  at::Tensor total = at::zeros({num_stats}, at::kDouble);  // a rank without micro-batches adds zeros
  for (const at::Tensor& s : stats) total = total + s.to(at::kCPU);  // in micro-batch order
  if (o.group) {
    std::vector<at::Tensor> tensors;
    for (at::Tensor& p : params) {
      at::Tensor& g = p.mutable_grad();
      if (!g.defined()) g = at::zeros_like(p);
      tensors.push_back(g);
    }
    tensors.push_back(total);
    R1_RETURN_IF_ERROR(o.group->all_reduce(tensors, /*mean=*/false));
    total = tensors.back();
  }
  return total;
}

}  // namespace r1
