#include "grpo/learner.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "model/cpu_streams.h"
#include "model/scoring.h"

namespace r1 {

namespace {

Status validate(const LearnerBatch& b, const LearnerOptions& o, const Transformer* reference) {
  size_t n = b.prompt_ids.size();
  if (n == 0) return Status::error("learner batch is empty");
  if (b.completion_ids.size() != n || b.old_logprobs.size() != n || b.advantages.size() != n ||
      (!b.masked.empty() && b.masked.size() != n))
    return Status::error(
        "learner batch: prompt_ids, completion_ids, old_logprobs, advantages and masked differ in length");
  for (size_t i = 0; i < n; ++i) {
    if (b.prompt_ids[i].empty()) return Status::error("learner batch: sequence " + std::to_string(i) + " has no prompt");
    if (!b.old_logprobs[i].empty() && b.old_logprobs[i].size() != b.completion_ids[i].size())
      return Status::error("learner batch: sequence " + std::to_string(i) + " has " +
                           std::to_string(b.old_logprobs[i].size()) + " old log-probs for " +
                           std::to_string(b.completion_ids[i].size()) + " completion tokens");
  }
  if (o.micro_batch_size < 1) return Status::error("micro_batch_size must be >= 1");
  if (o.streams < 0) return Status::error("learner streams must be >= 0");
  if (o.loss.beta != 0 && !reference) return Status::error("beta != 0 needs a reference model");
  return Status();
}

bool is_masked(const LearnerBatch& b, size_t i) { return !b.masked.empty() && b.masked[i]; }

// Rows `rows` of the batch as one forward: the completions with their
// distinct prompts, the loss mask and the padded old log-probs (undefined
// when all rows are on-policy); [b, T] with T the longest completion.
struct MicroBatch {
  PromptCompletionBatch tokens;
  at::Tensor mask;          // [b, T] float
  at::Tensor old_logprobs;  // [b, T] or undefined
  at::Tensor advantages;    // [b]
};

MicroBatch make_micro_batch(const LearnerBatch& b, const std::vector<size_t>& rows) {
  std::vector<std::vector<int64_t>> prompts, completions;
  bool off_policy = false;
  for (size_t i : rows) {
    prompts.push_back(b.prompt_ids[i]);
    completions.push_back(b.completion_ids[i]);
    off_policy |= !b.old_logprobs[i].empty();
  }
  MicroBatch mb{make_prompt_completion_batch(prompts, completions), {}, {}, {}};
  int64_t n = static_cast<int64_t>(rows.size()), T = mb.tokens.completions.ids.size(1);
  mb.mask = at::zeros({n, T});
  if (off_policy) mb.old_logprobs = at::zeros({n, T});
  mb.advantages = at::empty({n}, at::kDouble);
  // Filled on the host in place: these are CPU tensors built per micro-batch.
  float* mask = mb.mask.data_ptr<float>();
  float* old = off_policy ? mb.old_logprobs.data_ptr<float>() : nullptr;
  double* advantages = mb.advantages.data_ptr<double>();
  for (int64_t r = 0; r < n; ++r) {
    size_t i = rows[r];
    if (!is_masked(b, i)) std::fill_n(mask + r * T, b.completion_ids[i].size(), 1.0f);
    if (old) std::copy(b.old_logprobs[i].begin(), b.old_logprobs[i].end(), old + r * T);
    advantages[r] = b.advantages[i];
  }
  return mb;
}

// The row order micro-batches are cut from. Rows with the same prompt are
// put side by side so that a micro-batch runs each prompt once
// (completion_logprobs), unless the loss depends on how rows are split into
// micro-batches: then the given order is kept.
std::vector<size_t> micro_batch_order(const LearnerBatch& b, const LossOptions& loss) {
  std::vector<size_t> order(b.prompt_ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (loss_depends_on_micro_batching(loss.loss_type)) return order;
  std::map<std::vector<int64_t>, size_t> first_seen;
  std::vector<size_t> group(order.size());
  for (size_t i : order) group[i] = first_seen.emplace(b.prompt_ids[i], i).first->second;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return group[x] < group[y]; });
  return order;
}

// What one micro-batch adds to the step's statistics.
struct MicroBatchResult {
  double loss = 0;
  double entropy_sum = 0;  // over its loss tokens
  double ref_logprobs_seconds = 0;
  std::map<std::string, double> metrics;
};

// Forward and backward of rows `rows`. The gradient goes into the policy's
// .grad, or is added to `grads` (one per parameter) when that is given.
Result<MicroBatchResult> run_micro_batch(const Transformer& policy, const Transformer* reference,
                                         const LearnerBatch& batch, const std::vector<size_t>& rows,
                                         const LearnerOptions& o, const LossNormalizer& normalizer,
                                         std::vector<at::Tensor>* grads) {
  MicroBatchResult result;
  MicroBatch mb = make_micro_batch(batch, rows);
  LossInputs inputs;
  at::Tensor entropy;
  inputs.per_token_logps = completion_logprobs(policy, mb.tokens, o.temperature, &entropy) * mb.mask;
  result.entropy_sum = (entropy * mb.mask).sum().item<double>();
  inputs.old_per_token_logps = mb.old_logprobs;
  if (o.loss.beta != 0) {
    at::NoGradGuard no_grad;
    auto start = std::chrono::steady_clock::now();
    inputs.ref_per_token_logps = completion_logprobs(*reference, mb.tokens, o.temperature) * mb.mask;
    result.ref_logprobs_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  inputs.advantages = mb.advantages.to(at::kFloat);
  inputs.completion_mask = mb.mask;
  inputs.normalizer = normalizer;
  R1_ASSIGN_OR_RETURN(LossOutput out, grpo_policy_loss(inputs, o.loss));
  if (grads) {
    std::vector<at::Tensor> params = policy.parameters();
    auto g = torch::autograd::grad({out.loss}, params, {}, false, false, /*allow_unused=*/true);
    if (grads->empty()) grads->resize(params.size());
    for (size_t i = 0; i < g.size(); ++i)
      if (g[i].defined()) (*grads)[i] = (*grads)[i].defined() ? (*grads)[i] + g[i] : g[i];
  } else {
    out.loss.backward();
  }
  result.loss = out.loss.item<double>();
  for (const auto& [name, value] : out.metrics) result.metrics[name] = value.item<double>();
  return result;
}

// Runs the micro-batches over `streams` (stream s takes micro-batches s,
// s + streams, ...). With more than one, each stream sums its gradients
// apart and the sums are added to .grad in stream order: the result does not
// depend on which thread finishes first. Results come back in micro-batch order.
Result<std::vector<MicroBatchResult>> run_micro_batches(const Transformer& policy, const Transformer* reference,
                                                        const LearnerBatch& batch,
                                                        const std::vector<std::vector<size_t>>& micro_batches,
                                                        const LearnerOptions& o, const LossNormalizer& normalizer,
                                                        int streams) {
  std::vector<Result<MicroBatchResult>> results(micro_batches.size(), Status::error("not run"));
  std::vector<std::vector<at::Tensor>> grads(streams);
  run_streams(streams, [&](int s) {
    std::vector<at::Tensor>* own_grads = streams > 1 ? &grads[s] : nullptr;  // one stream: straight into .grad
    for (size_t m = s; m < micro_batches.size(); m += streams) {
      results[m] = run_micro_batch(policy, reference, batch, micro_batches[m], o, normalizer, own_grads);
      if (!results[m].ok()) return;
    }
  });
  std::vector<MicroBatchResult> out;
  for (auto& r : results) {
    R1_RETURN_IF_ERROR(r.status());
    out.push_back(*r);
  }
  std::vector<at::Tensor> params = policy.parameters();
  for (const auto& stream_grads : grads)
    for (size_t i = 0; i < stream_grads.size(); ++i) {
      if (!stream_grads[i].defined()) continue;
      at::Tensor& g = params[i].mutable_grad();
      g = g.defined() ? g + stream_grads[i] : stream_grads[i];
    }
  return out;
}

}  // namespace

Result<LearnerStepStats> accumulate_policy_gradients(const Transformer& policy, const Transformer* reference,
                                                     const LearnerBatch& batch, const LearnerOptions& o) {
  R1_RETURN_IF_ERROR(validate(batch, o, reference));
  LearnerStepStats stats;
  size_t n = batch.prompt_ids.size();
  for (size_t i = 0; i < n; ++i)
    if (!is_masked(batch, i)) stats.completion_tokens += static_cast<int64_t>(batch.completion_ids[i].size());
  LossNormalizer normalizer;
  normalizer.num_sequences = static_cast<double>(n);
  normalizer.num_tokens = at::scalar_tensor(static_cast<double>(stats.completion_tokens));
  normalizer.num_micro_batches = static_cast<int64_t>((n + o.micro_batch_size - 1) / o.micro_batch_size);
  std::vector<size_t> order = micro_batch_order(batch, o.loss);
  std::vector<std::vector<size_t>> micro_batches;
  for (size_t begin = 0; begin < n; begin += o.micro_batch_size)
    micro_batches.emplace_back(order.begin() + begin,
                               order.begin() + std::min(n, begin + static_cast<size_t>(o.micro_batch_size)));
  int streams = stream_count(o.streams, policy.device().is_cpu(), normalizer.num_micro_batches);
  R1_ASSIGN_OR_RETURN(std::vector<MicroBatchResult> results,
                      run_micro_batches(policy, reference, batch, micro_batches, o, normalizer, streams));
  double entropy_sum = 0;
  for (const MicroBatchResult& r : results) {  // in micro-batch order: the same sums however they ran
    stats.loss += r.loss;
    entropy_sum += r.entropy_sum;
    stats.ref_logprobs_seconds += r.ref_logprobs_seconds;
    for (const auto& [name, value] : r.metrics)
      stats.metrics[name] += value / static_cast<double>(normalizer.num_micro_batches);
  }
  stats.ref_logprobs_seconds /= streams;
  stats.metrics["entropy"] = entropy_sum / static_cast<double>(std::max<int64_t>(1, stats.completion_tokens));
  return stats;
}

Result<LearnerStepStats> learner_step(const Transformer& policy, const Transformer* reference, AdamW& optimizer,
                                      const LearnerBatch& batch, const LearnerOptions& o) {
  R1_ASSIGN_OR_RETURN(LearnerStepStats stats, accumulate_policy_gradients(policy, reference, batch, o));
  stats.grad_norm = optimizer.clip_grad_norm(o.max_grad_norm);
  optimizer.step(o.learning_rate);
  return stats;
}

}  // namespace r1
