// A data-parallel step's gradient all-reduce, in buckets started while the
// backward of the rank's last micro-batch is still running: the overlap of
// communication with computation that DDP's reducer gives. Backward finishes
// the last layers' gradients first, so the buckets hold the parameters in
// reverse order; the first is small (1 MB, DDP's first bucket) so the
// network starts early. A bucket starts when all its gradients are final
// and every bucket before it has started: every rank then starts the same
// all-reduces in the same order, whatever order its backward ran in.
//
// Each bucket is one flat fp32 buffer and the parameters' .grad are views
// into it (DDP's gradient_as_bucket_view): the all-reduce needs no copies,
// in or out, and no second copy of the gradients exists.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "train/process_group.h"
#include "util/status.h"

namespace r1 {

class GradBuckets {
 public:
  // `params`' gradients over `group`, in buckets of at most the group's
  // ddp_bucket_cap_mb (a larger tensor alone). With `grads_in_place`
  // (backward adds straight into .grad: fp32 parameters, one stream), .grad
  // becomes the buckets' views now, holding what it held; otherwise each
  // bucket is made when its gradients arrive.
  GradBuckets(ProcessGroup& group, std::vector<at::Tensor> params, bool grads_in_place);
  ~GradBuckets();
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  // The backward of this rank's last micro-batch of the step: d loss /
  // d params goes into .grad, or, with `sums` (the stream's fp32 sums of
  // the earlier micro-batches, train/micro_batches.h add_gradients), is
  // added to them in .grad; each bucket starts as soon as its gradients are
  // final.
  void backward(const at::Tensor& loss, std::vector<at::Tensor>* sums);
  // Sums .grad over the ranks, once the sums backward did not take are in
  // .grad (add_to_grads): starts the buckets backward did not (all of them
  // when this rank ran no backward through it), then waits for all. A
  // parameter without a gradient sends zeros.
  Status finish();

  // How many buckets `backward` started before it returned (for tests).
  int64_t started_in_backward() const { return started_in_backward_; }
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_, in reverse order
    int64_t numel = 0;
    size_t waiting = 0;  // parameters whose gradient is not final yet
    at::Tensor flat;     // [numel] fp32, made by make_buffer
  };
  struct Hook;
  // Bucket b's buffer (zeros), and its parameters' views of it.
  void make_buffer(Bucket& b);
  // Parameter p's .grad becomes its view, holding what .grad held (zeros
  // when it held nothing).
  void adopt_grad(size_t p);
  // Parameter `p`'s gradient is final (its post-accumulate hook).
  void ready(size_t p);
  // Starts every bucket from next_ on that is ready (`all`: ready or not).
  void start_buckets(bool all);
  void remove_hooks();

  ProcessGroup& group_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // by parameter
  std::vector<at::Tensor> views_;  // by parameter, once its bucket's buffer exists
  size_t next_ = 0;                // the first bucket not started
  std::vector<at::Tensor>* sums_ = nullptr;
  int64_t started_in_backward_ = 0;
};

}  // namespace r1
