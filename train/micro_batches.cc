#include "train/micro_batches.h"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <optional>
#include <tuple>

#include "model/gemm.h"
#include "train/grad_buckets.h"
#include "util/cpu_streams.h"

namespace r1 {

namespace {

// `into` += `add`, element-wise; an undefined `into` becomes `add`.
void add_to(at::Tensor& into, const at::Tensor& add) {
  if (add.defined()) into = into.defined() ? into + add : add;
}

// The micro-batch (its position in plan.mine) whose backward starts the
// gradients' all-reduce: this rank's last when one stream runs them all.
// With several streams the sums are added after the streams finish, so only
// then are the gradients final: none.
std::optional<size_t> last_backward(const MicroBatchPlan& plan) {
  if (plan.streams() != 1 || plan.by_stream[0].empty()) return std::nullopt;
  return plan.by_stream[0].back();
}

// Whether backward may add straight into .grad: one stream of fp32
// parameters (else each stream sums its micro-batches apart, in fp32).
bool grads_in_place(const MicroBatchPlan& plan, const std::vector<at::Tensor>& params) {
  if (plan.streams() != 1) return false;
  for (const at::Tensor& p : params)
    if (p.scalar_type() != at::kFloat) return false;
  return true;
}

// Adds the weight gradients the products summed (gemm::WeightGradSink) to
// `target`'s sums or .grad, and empties them.
void add_product_sums(const std::vector<at::Tensor>& params, std::vector<at::Tensor>& product_sums,
                      const GradTarget& target) {
  if (target.sums) target.sums->resize(params.size());
  for (size_t p = 0; p < product_sums.size(); ++p) {
    if (!product_sums[p].defined()) continue;
    add_to(target.sums ? (*target.sums)[p] : params[p].mutable_grad(), product_sums[p]);
  }
  product_sums.clear();
}

}  // namespace

void add_gradients(const at::Tensor& loss, const std::vector<at::Tensor>& params, std::vector<at::Tensor>& sums) {
  auto g = torch::autograd::grad({loss}, params, {}, false, false, /*allow_unused=*/true);
  sums.resize(params.size());
  for (size_t p = 0; p < g.size(); ++p)
    if (g[p].defined()) add_to(sums[p], g[p].scalar_type() == at::kFloat ? g[p] : g[p].to(at::kFloat));
}

void add_to_grads(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& sums) {
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

Status run_micro_batches(const MicroBatchPlan& plan, const std::vector<at::Tensor>& params, ProcessGroup* group,
                         const std::function<Status(size_t i, const GradTarget& target)>& run) {
  const bool in_place = grads_in_place(plan, params);
  std::vector<std::vector<at::Tensor>> sums(plan.streams());
  std::optional<GradBuckets> buckets;
  if (group) buckets.emplace(*group, params, in_place);
  const std::optional<size_t> last = last_backward(plan);
  std::vector<Status> status(plan.mine.size());
  run_streams(plan.streams(), [&](int s) {
    // Every micro-batch but the stream's last sums its weight gradients in
    // the products (gemm::WeightGradSink); they join the stream's gradient
    // before the last runs. The last gives .grad (or the stream's sums) its
    // gradient through autograd, as the last of a rank's single stream must
    // for the all-reduce to start inside its backward: a rank and a stream
    // then sum the same terms in the same order.
    std::vector<at::Tensor> product_sums;
    const std::vector<size_t>& mine = plan.by_stream[s];
    for (size_t k = 0; k < mine.size(); ++k) {
      const size_t i = mine[k];
      const GradTarget target{.sums = in_place ? nullptr : &sums[s],
                              .buckets = buckets && last == i ? &*buckets : nullptr};
      std::optional<gemm::WeightGradSink> sink;
      if (k + 1 == mine.size())
        add_product_sums(params, product_sums, target);
      else
        sink.emplace(params, product_sums);
      status[i] = run(i, target);
      if (!status[i].ok()) return;
    }
  });
  for (const Status& st : status) R1_RETURN_IF_ERROR(st);
  for (const auto& stream_sums : sums) add_to_grads(params, stream_sums);
  return buckets ? buckets->finish() : Status();
}

Result<at::Tensor> accumulate_micro_batches(std::vector<at::Tensor> params, const std::vector<int64_t>& costs,
                                            int64_t num_stats,
                                            const std::function<MicroBatchLoss(int64_t m)>& run,
                                            const MicroBatchOptions& o) {
  const MicroBatchPlan plan = plan_micro_batches(costs, o, params.empty() || params.front().is_cpu());
  std::vector<at::Tensor> stats(plan.mine.size());
  R1_RETURN_IF_ERROR(run_micro_batches(plan, params, o.group, [&](size_t i, const GradTarget& target) {
    MicroBatchLoss out = run(plan.mine[i]);
    stats[i] = out.stats.detach().to(at::kDouble);
    backward_into(out.loss, params, target);
    return Status();
  }));
  at::Tensor total = at::zeros({num_stats}, at::kDouble);  // a rank without micro-batches adds zeros
  for (const at::Tensor& s : stats) total = total + s.to(at::kCPU);  // in micro-batch order
  if (o.group) {
    std::vector<at::Tensor> tensors = {total};
    R1_RETURN_IF_ERROR(o.group->all_reduce(tensors, /*mean=*/false));
    total = tensors.back();
  }
  return total;
}

}  // namespace r1
