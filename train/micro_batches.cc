#include "train/micro_batches.h"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <optional>
#include <tuple>

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

void backward_into(const at::Tensor& loss, const std::vector<at::Tensor>& params, const GradTarget& target) {
  if (target.buckets) {
    target.buckets->backward(loss, target.sums);
  } else if (target.sums) {
    add_gradients(loss, params, *target.sums);
  } else {
    loss.backward();
  }
}

std::optional<size_t> last_backward(const MicroBatchPlan& plan) {
  if (plan.streams() != 1 || plan.by_stream[0].empty()) return std::nullopt;
  return plan.by_stream[0].back();
}

bool grads_in_place(const MicroBatchPlan& plan, const std::vector<at::Tensor>& params) {
  if (plan.streams() != 1) return false;
  for (const at::Tensor& p : params)
    if (p.scalar_type() != at::kFloat) return false;
  return true;
}

std::vector<int> balanced_owners(const std::vector<int64_t>& costs, int parts) {
  std::vector<size_t> order(costs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<int64_t> load(parts, 0), count(parts, 0);
  std::vector<int> owner(costs.size());
  for (size_t m : order) {
    int best = 0;
    for (int p = 1; p < parts; ++p)
      if (std::tie(load[p], count[p]) < std::tie(load[best], count[best])) best = p;
    owner[m] = best;
    load[best] += costs[m];
    ++count[best];
  }
  return owner;
}

MicroBatchPlan plan_micro_batches(const std::vector<int64_t>& costs, const MicroBatchOptions& o, bool on_cpu) {
  const int64_t rank = o.group ? o.group->rank() : 0, ranks = o.group ? o.group->world_size() : 1;
  const std::vector<int> rank_of = balanced_owners(costs, static_cast<int>(ranks));
  MicroBatchPlan plan;
  std::vector<int64_t> my_costs;
  for (size_t m = 0; m < costs.size(); ++m)
    if (rank_of[m] == rank) plan.mine.push_back(static_cast<int64_t>(m)), my_costs.push_back(costs[m]);
  const int streams = stream_count(o.streams, on_cpu, std::max<int64_t>(1, static_cast<int64_t>(plan.mine.size())));
  const std::vector<int> stream_of = balanced_owners(my_costs, streams);
  plan.by_stream.resize(streams);
  for (size_t i = 0; i < stream_of.size(); ++i) plan.by_stream[stream_of[i]].push_back(i);
  return plan;
}

Result<at::Tensor> accumulate_micro_batches(std::vector<at::Tensor> params, const std::vector<int64_t>& costs,
                                            int64_t num_stats,
                                            const std::function<MicroBatchLoss(int64_t m)>& run,
                                            const MicroBatchOptions& o) {
  const MicroBatchPlan plan = plan_micro_batches(costs, o, params.empty() || params.front().is_cpu());
  const int streams = plan.streams();
  const bool in_place = grads_in_place(plan, params);
  std::vector<std::vector<at::Tensor>> grads(streams);
  std::vector<at::Tensor> stats(plan.mine.size());
  std::optional<GradBuckets> buckets;
  if (o.group) buckets.emplace(*o.group, params, in_place);
  const std::optional<size_t> last = last_backward(plan);
  run_streams(streams, [&](int s) {
    for (size_t i : plan.by_stream[s]) {
      MicroBatchLoss out = run(plan.mine[i]);
      stats[i] = out.stats.detach().to(at::kDouble);
      // One stream of fp32 tensors: straight into .grad.
      backward_into(out.loss, params,
                    {.sums = in_place ? nullptr : &grads[s], .buckets = buckets && last == i ? &*buckets : nullptr});
    }
  });
  for (const auto& stream_grads : grads) add_to_grads(params, stream_grads);
  at::Tensor total = at::zeros({num_stats}, at::kDouble);  // a rank without micro-batches adds zeros
  for (const at::Tensor& s : stats) total = total + s.to(at::kCPU);  // in micro-batch order
  if (buckets) {
    R1_RETURN_IF_ERROR(buckets->finish());
    std::vector<at::Tensor> tensors = {total};
    R1_RETURN_IF_ERROR(o.group->all_reduce(tensors, /*mean=*/false));
    total = tensors.back();
  }
  return total;
}

}  // namespace r1
