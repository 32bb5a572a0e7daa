#include "train/grad_buckets.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>

namespace r1 {

namespace {

constexpr int64_t kFirstBucketBytes = 1024 * 1024;
constexpr int64_t kGradBytes = sizeof(float);  // per element: gradients travel in fp32

}  // namespace

// Runs after AccumulateGrad has added the parameter's last contribution of
// the backward pass (once per pass, also for a parameter used twice, such
// as tied embeddings).
struct GradBuckets::Hook : torch::autograd::PostAccumulateGradHook {
  Hook(GradBuckets& owner, size_t p) : owner(owner), p(p) {}
  void operator()(const torch::autograd::Variable&) override { owner.ready(p); }
  GradBuckets& owner;
  size_t p;
};

GradBuckets::GradBuckets(ProcessGroup& group, std::vector<at::Tensor> params, bool grads_in_place)
    : group_(group), params_(std::move(params)), bucket_of_(params_.size()), views_(params_.size()) {
  const int64_t cap = static_cast<int64_t>(group.bucket_cap_mb() * 1024 * 1024);
  for (size_t i = params_.size(); i-- > 0;) {
    const int64_t limit = buckets_.size() == 1 ? std::min(cap, kFirstBucketBytes) : cap;
    const int64_t numel = params_[i].numel();
    if (buckets_.empty() || (buckets_.back().numel > 0 && (buckets_.back().numel + numel) * kGradBytes > limit))
      buckets_.emplace_back();
    buckets_.back().params.push_back(i);
    buckets_.back().numel += numel;
    bucket_of_[i] = buckets_.size() - 1;
  }
  for (Bucket& b : buckets_) {
    b.waiting = b.params.size();
    if (!grads_in_place) continue;
    make_buffer(b);
    for (size_t p : b.params) adopt_grad(p);
  }
}

GradBuckets::~GradBuckets() { remove_hooks(); }

void GradBuckets::remove_hooks() {
  for (const at::Tensor& p : params_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
}

void GradBuckets::make_buffer(Bucket& b) {
  b.flat = at::zeros({b.numel}, at::TensorOptions(at::kFloat).device(params_[b.params.front()].device()));
  int64_t offset = 0;
  for (size_t p : b.params) {
    views_[p] = b.flat.narrow(0, offset, params_[p].numel()).view(params_[p].sizes());
    offset += params_[p].numel();
  }
}

void GradBuckets::adopt_grad(size_t p) {
  at::Tensor& grad = params_[p].mutable_grad();
  if (grad.is_same(views_[p])) return;
  if (grad.defined()) views_[p].copy_(grad);
  grad = views_[p];
}

void GradBuckets::backward(const at::Tensor& loss, std::vector<at::Tensor>* sums) {
  if (sums) sums->resize(params_.size());
  sums_ = sums;
  for (size_t i = 0; i < params_.size(); ++i)
    torch::autograd::impl::set_post_acc_grad_hooks(params_[i], std::make_unique<Hook>(*this, i));
  const size_t before = next_;
  loss.backward();
  remove_hooks();
  sums_ = nullptr;
  started_in_backward_ += static_cast<int64_t>(next_ - before);
}

void GradBuckets::ready(size_t p) {
  Bucket& b = buckets_[bucket_of_[p]];
  if (sums_) {
    // Kept apart in fp32 (a bf16 model): this pass's gradient (in .grad,
    // which backward found empty) joins the earlier micro-batches' sum as
    // add_gradients adds it, in the bucket.
    if (!b.flat.defined()) make_buffer(b);
    at::Tensor g = params_[p].grad().to(at::kFloat);
    at::Tensor& sum = (*sums_)[p];
    if (sum.defined()) {
      at::add_out(views_[p], sum, g);
    } else {
      views_[p].copy_(g);
    }
    sum = at::Tensor();
    params_[p].mutable_grad() = views_[p];
  }
  --b.waiting;
  start_buckets(/*all=*/false);
}

void GradBuckets::start_buckets(bool all) {
  for (; next_ < buckets_.size() && (all || buckets_[next_].waiting == 0); ++next_) {
    Bucket& b = buckets_[next_];
    if (!b.flat.defined()) make_buffer(b);
    for (size_t p : b.params) adopt_grad(p);  // a no-op unless it arrived elsewhere (several streams' sums)
    group_.start_all_reduce(b.flat);
  }
}

Status GradBuckets::finish() {
  remove_hooks();
  start_buckets(/*all=*/true);
  return group_.finish_all_reduces();
}

}  // namespace r1
