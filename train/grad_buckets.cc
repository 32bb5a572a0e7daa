#include "train/grad_buckets.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>

namespace r1 {

namespace {

constexpr int64_t kFirstBucketBytes = 1024 * 1024;

int64_t grad_bytes(const at::Tensor& p) { return p.numel() * static_cast<int64_t>(sizeof(float)); }

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

GradBuckets::GradBuckets(ProcessGroup& group, std::vector<at::Tensor> params)
    : group_(group), params_(std::move(params)), bucket_of_(params_.size()) {
  const int64_t cap = static_cast<int64_t>(group.bucket_cap_mb() * 1024 * 1024);
  int64_t filled = 0;
  for (size_t i = params_.size(); i-- > 0;) {
    const int64_t limit = buckets_.size() == 1 ? std::min(cap, kFirstBucketBytes) : cap;
    if (buckets_.empty() || (filled > 0 && filled + grad_bytes(params_[i]) > limit)) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().params.push_back(i);
    bucket_of_[i] = buckets_.size() - 1;
    filled += grad_bytes(params_[i]);
  }
  for (Bucket& b : buckets_) b.waiting = b.params.size();
}

GradBuckets::~GradBuckets() { remove_hooks(); }

void GradBuckets::remove_hooks() {
  for (const at::Tensor& p : params_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
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
  if (sums_) {
    // Kept apart in fp32 (a bf16 model): this pass's gradient joins the
    // earlier micro-batches' sum, as add_gradients adds it, and the sum
    // becomes .grad.
    at::Tensor& sum = (*sums_)[p];
    at::Tensor g = params_[p].grad().to(at::kFloat);
    params_[p].mutable_grad() = sum.defined() ? sum + g : g;
    sum = at::Tensor();
  }
  --buckets_[bucket_of_[p]].waiting;
  start_buckets(/*all=*/false);
}

void GradBuckets::start_buckets(bool all) {
  for (; next_ < buckets_.size() && (all || buckets_[next_].waiting == 0); ++next_) {
    Bucket& b = buckets_[next_];
    std::vector<at::Tensor> grads;
    for (size_t p : b.params) {
      at::Tensor& g = params_[p].mutable_grad();
      if (!g.defined()) g = at::zeros_like(params_[p], at::kFloat);
      grads.push_back(g);
    }
    b.is_view = grads.size() == 1 && grads[0].is_contiguous();
    if (b.is_view) {
      b.flat = grads[0].view({-1});
    } else {
      for (at::Tensor& g : grads) g = g.reshape({-1});
      b.flat = at::cat(grads);
    }
    group_.start_all_reduce(b.flat);
  }
}

Status GradBuckets::finish() {
  remove_hooks();
  start_buckets(/*all=*/true);
  R1_RETURN_IF_ERROR(group_.finish_all_reduces());
  for (Bucket& b : buckets_) {
    if (b.is_view) continue;
    int64_t offset = 0;
    for (size_t p : b.params) {
      at::Tensor& g = params_[p].mutable_grad();
      g.copy_(b.flat.narrow(0, offset, g.numel()).view(g.sizes()));
      offset += g.numel();
    }
  }
  return Status();
}

}  // namespace r1
