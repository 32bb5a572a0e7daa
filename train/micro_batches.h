// The micro-batches of one optimizer step, spread over this process's CPU
// streams and, in a data-parallel run, over the ranks, balanced by their
// costs (balanced_owners): first over the ranks, then a rank's over its
// streams. Each stream sums its gradients apart, in micro-batch order, and
// the sums are added to .grad in stream order, then over ranks. So one
// process of S streams and S ranks of one stream sum the same terms in the
// same order: their gradients are bit for bit equal, whichever thread
// finishes first. With one stream, the rank's last micro-batch all-reduces
// its gradients while its backward runs (train/grad_buckets.h).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "train/process_group.h"
#include "util/status.h"

namespace r1 {

class GradBuckets;  // train/grad_buckets.h

// Gradient sums kept apart from .grad (one per parameter), in fp32 for
// parameters that are not: a bf16 model's micro-batches then accumulate in
// fp32, as TRL's autocast (fp32 weights and grads) does, not in bf16.
// Adds d loss / d params to `sums`.
void add_gradients(const at::Tensor& loss, const std::vector<at::Tensor>& params, std::vector<at::Tensor>& sums);
// Adds `sums` to the parameters' .grad in order (a bf16 parameter's .grad
// becomes fp32; AdamW's fp32 masters take it as it is).
void add_to_grads(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& sums);

// Where a micro-batch's gradient goes.
struct GradTarget {
  std::vector<at::Tensor>* sums = nullptr;  // added to these (add_gradients), else into .grad
  GradBuckets* buckets = nullptr;           // this rank's last micro-batch: all-reduced as backward finishes them
};
void backward_into(const at::Tensor& loss, const std::vector<at::Tensor>& params, const GradTarget& target);

struct MicroBatchLoss {
  at::Tensor loss;   // scalar to differentiate: the micro-batch's share of the step's loss
  at::Tensor stats;  // [K] statistics of the micro-batch (no grad), summed over the step
};

struct MicroBatchOptions {
  int streams = 0;                // 0 = 2 on the CPU, 1 elsewhere (util/cpu_streams.h)
  ProcessGroup* group = nullptr;  // nullptr: this process alone
};

// Which of `parts` (ranks, or one rank's streams) runs each micro-batch,
// given their costs (e.g. tokens): the costliest first, each to the part
// with the least cost so far (then the fewest micro-batches, then the lowest
// index), so that the step's slowest part finishes soon after the others;
// sequence lengths vary a lot in RL (verl balances its ranks likewise).
// Equal costs give round robin, part m % parts. Every rank computes the same.
std::vector<int> balanced_owners(const std::vector<int64_t>& costs, int parts);

// This rank's share of a step's micro-batches (balanced_owners over the
// ranks, then over its streams; the stream count from util/cpu_streams.h).
struct MicroBatchPlan {
  std::vector<int64_t> mine;                   // this rank's micro-batches, in order
  std::vector<std::vector<size_t>> by_stream;  // each stream's positions in `mine`, in order
  int streams() const { return static_cast<int>(by_stream.size()); }
};
MicroBatchPlan plan_micro_batches(const std::vector<int64_t>& costs, const MicroBatchOptions& options, bool on_cpu);
// Runs this rank's share of a step (`plan`) over its streams: `run(i,
// target)` runs micro-batch plan.mine[i] and sends its loss's gradient to
// `target` (backward_into). Afterwards .grad holds the step's gradient:
// each stream's micro-batches summed in order, the streams added in order
// and, with `group`, the ranks' sums added (the last micro-batch's backward
// starts that all-reduce when one stream runs them all,
// train/grad_buckets.h). The first error `run` returns stops its stream and
// is returned.
Status run_micro_batches(const MicroBatchPlan& plan, const std::vector<at::Tensor>& params, ProcessGroup* group,
                         const std::function<Status(size_t i, const GradTarget& target)>& run);

// Runs `run(m)` for this rank's micro-batches m of [0, costs.size()), adds the
// gradients of their losses to `params`' .grad and, over ranks, sums .grad
// and the statistics. Returns the statistics summed over all n micro-batches
// ([num_stats] double, on the CPU). A rank left without a micro-batch (the
// last, short step of an epoch) adds zeros.
Result<at::Tensor> accumulate_micro_batches(std::vector<at::Tensor> params, const std::vector<int64_t>& costs,
                                            int64_t num_stats,
                                            const std::function<MicroBatchLoss(int64_t m)>& run,
                                            const MicroBatchOptions& options);

}  // namespace r1
