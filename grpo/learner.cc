#include "grpo/learner.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "distill/chunked_kl.h"
#include "grpo/moe_routing.h"
#include "model/layer_ops.h"
#include "model/scoring.h"
#include "train/micro_batches.h"
#include "train/zero.h"

namespace r1 {

namespace {

Status validate(const std::vector<Sample>& b, const LearnerOptions& o, const Transformer* reference) {
  if (b.empty()) return Status::error("learner batch is empty");
  for (size_t i = 0; i < b.size(); ++i) {
    const std::string where = "learner batch: sequence " + std::to_string(i);
    if (b[i].prompt_ids.empty()) return Status::error(where + " has no prompt");
    bool sampling = o.use_sampling_logprobs || o.sampling_correction;
    if (sampling && b[i].logprobs.size() != b[i].token_ids.size())
      return Status::error(where + " has " + std::to_string(b[i].logprobs.size()) + " sampling log-probs for " +
                           std::to_string(b[i].token_ids.size()) + " completion tokens");
    // π_old comes from every row's old_logprobs or from none (the current policy).
    if (o.sampling_correction && b[i].old_logprobs.size() != (b[0].old_logprobs.empty() ? 0 : b[i].token_ids.size()))
      return Status::error(where + " has " + std::to_string(b[i].old_logprobs.size()) + " old log-probs for " +
                           std::to_string(b[i].token_ids.size()) + " completion tokens (sequence 0 has " +
                           std::to_string(b[0].old_logprobs.size()) + ")");
  }
  if (o.use_sampling_logprobs && o.sampling_correction)
    return Status::error("use_sampling_logprobs and sampling_correction exclude each other");
  if (o.micro_batch_size < 1) return Status::error("micro_batch_size must be >= 1");
  if (o.streams < 0) return Status::error("learner streams must be >= 0");
  if (o.loss.beta != 0 && !reference) return Status::error("beta != 0 needs a reference model");
  return Status();
}

bool is_moe(const Transformer& policy) { return policy.config().moe.n_routed_experts > 0; }

Status check_moe_options(const Transformer& policy, const LearnerOptions& o) {
  return check_moe_keys(policy.config(), o.routing_replay, o.router_aux_loss_coef);
}

// The routing of rows `rows` (tokens built from them), for MoE policies.
Result<std::optional<LearnerRouting>> routing_of(const Transformer& policy, const std::vector<const Sample*>& rows,
                                                 const PromptCompletionBatch& tokens, const LearnerOptions& o) {
  if (!is_moe(policy)) return std::optional<LearnerRouting>();
  R1_ASSIGN_OR_RETURN(LearnerRouting r, learner_routing(rows, tokens, policy.config(), o.routing_replay));
  return std::optional<LearnerRouting>(std::move(r));
}

bool in_loss(const Sample& s, const LearnerOptions& o) {
  return !(o.mask_truncated_completions && s.finish_reason == "length");
}

// Rows `rows` of the batch as one forward: the completions with their
// distinct prompts, the loss mask, the padded old log-probs (undefined
// when they are the current policy's) and, with a sampling correction, the
// sampling log-probs; [b, T] with T the longest completion, on `device`.
struct MicroBatch {
  PromptCompletionBatch tokens;
  at::Tensor mask;               // [b, T] float
  at::Tensor old_logprobs;       // [b, T] or undefined
  at::Tensor sampling_logprobs;  // [b, T] or undefined
  at::Tensor advantages;         // [b] float
  at::Tensor loss_positions;     // on-policy distillation: [loss tokens] flat indices into [b * T]
};

// The per-token values `field` of rows `rows`, right-padded with zeros to T.
at::Tensor padded_rows(const std::vector<Sample>& b, const std::vector<size_t>& rows, int64_t T,
                       std::vector<float> Sample::*field) {
  at::Tensor host = at::zeros({static_cast<int64_t>(rows.size()), T});
  float* out = host.data_ptr<float>();
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<float>& v = b[rows[r]].*field;
    std::copy(v.begin(), v.end(), out + r * T);
  }
  return host;
}

// The one conversion from samples to learner tensors: filled on the host,
// moved to the model's device once.
MicroBatch make_micro_batch(const std::vector<Sample>& b, const std::vector<size_t>& rows, const LearnerOptions& o,
                            at::Device device) {
  std::vector<std::vector<int64_t>> prompts, completions;
  for (size_t i : rows) {
    prompts.push_back(b[i].prompt_ids);
    completions.push_back(b[i].token_ids);
  }
  MicroBatch mb;
  mb.tokens = make_prompt_completion_batch(prompts, completions, device);
  int64_t n = static_cast<int64_t>(rows.size()), T = mb.tokens.completions.ids.size(1);
  at::Tensor mask_host = at::zeros({n, T});
  at::Tensor advantages_host = at::empty({n});
  float* mask = mask_host.data_ptr<float>();
  float* advantages = advantages_host.data_ptr<float>();
  for (int64_t r = 0; r < n; ++r) {
    const Sample& s = b[rows[r]];
    if (in_loss(s, o)) std::fill_n(mask + r * T, s.token_ids.size(), 1.0f);
    advantages[r] = static_cast<float>(s.advantage);
  }
  mb.mask = mask_host.to(device);
  if (o.teacher) mb.loss_positions = mask_host.reshape({-1}).nonzero().squeeze(1).to(device);  // no device sync
  mb.advantages = advantages_host.to(device);
  if (o.use_sampling_logprobs) mb.old_logprobs = padded_rows(b, rows, T, &Sample::logprobs).to(device);
  if (o.sampling_correction) {
    mb.sampling_logprobs = padded_rows(b, rows, T, &Sample::logprobs).to(device);
    if (!b[rows[0]].old_logprobs.empty()) mb.old_logprobs = padded_rows(b, rows, T, &Sample::old_logprobs).to(device);
  }
  return mb;
}

// The row order micro-batches are cut from. Rows with the same prompt are
// put side by side so that a micro-batch runs each prompt once
// (completion_logprobs), unless the loss depends on how rows are split into
// micro-batches: then the given order is kept.
std::vector<size_t> micro_batch_order(const std::vector<Sample>& b, const LossOptions& loss) {
  std::vector<size_t> order(b.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (loss_depends_on_micro_batching(loss.loss_type)) return order;
  std::map<std::vector<int64_t>, size_t> first_seen;
  std::vector<size_t> group(order.size());
  for (size_t i : order) group[i] = first_seen.emplace(b[i].prompt_ids, i).first->second;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return group[x] < group[y]; });
  return order;
}

// The tokens a micro-batch runs through the model: its completions and each
// distinct prompt once (prompt sharing). Its cost, for balancing.
int64_t micro_batch_tokens(const std::vector<Sample>& batch, const std::vector<size_t>& rows) {
  std::set<std::vector<int64_t>> prompts;
  int64_t tokens = 0;
  for (size_t r : rows) {
    tokens += static_cast<int64_t>(batch[r].token_ids.size());
    if (prompts.insert(batch[r].prompt_ids).second) tokens += static_cast<int64_t>(batch[r].prompt_ids.size());
  }
  return tokens;
}

// What one micro-batch adds to the step's statistics: 0-dim tensors on the
// model's device, read once per step (a host read per micro-batch would
// stall a GPU's queue).
struct MicroBatchResult {
  at::Tensor loss;
  at::Tensor entropy_sum;  // over its loss tokens
  double ref_logprobs_seconds = 0;
  std::map<std::string, at::Tensor> metrics;
  std::vector<size_t> masked_rows;  // rows the correction masked entirely
  at::Tensor routing_counts;        // MoE policies: RoutingTerms::counts
};

// Rows `rows` whose weights are 0 on every loss token (one host read, only
// with a sampling correction).
std::vector<size_t> fully_masked(const at::Tensor& weights, const at::Tensor& mask, const std::vector<size_t>& rows) {
  at::Tensor kept = (weights.expand_as(mask) * mask != 0).any(-1);
  at::Tensor has_tokens = (mask != 0).any(-1);
  at::Tensor masked = (has_tokens & ~kept).to(at::kCPU).contiguous();
  const bool* flags = masked.data_ptr<bool>();
  std::vector<size_t> out;
  for (size_t r = 0; r < rows.size(); ++r)
    if (flags[r]) out.push_back(rows[r]);
  return out;
}

// On-policy distillation's micro-batch: in place of the policy loss, the
// reverse KL(p_policy || p_teacher) at every loss position, summed and
// divided by the step's loss tokens (so micro-batches and ranks add up to
// the step's mean). Chunked (distill/chunked_kl.h): neither model's
// [tokens x vocab] logits are kept.
MicroBatchResult distill_micro_batch(const Transformer& policy, const Transformer& teacher, const MicroBatch& mb,
                                     PromptCompletionRouting* routing, const LearnerOptions& o,
                                     const LossNormalizer& normalizer, const GradTarget& grads) {
  MicroBatchResult result;
  at::Tensor teacher_hidden;  // [loss tokens, hidden]
  {
    at::NoGradGuard no_grad;
    teacher_hidden = pack_tokens(completion_hidden(teacher, mb.tokens), mb.loss_positions);
  }
  at::Tensor policy_hidden = pack_tokens(completion_hidden(policy, mb.tokens, routing), mb.loss_positions);
  at::Tensor per_token = 1.0 / normalizer.num_tokens.clamp_min(1).to(at::kFloat);
  DistillLoss d = chunked_distill_loss(policy_hidden, policy.lm_head_weight(), teacher_hidden,
                                       teacher.lm_head_weight(), KlDirection::reverse, o.temperature, per_token);
  result.entropy_sum = d.entropy.sum();
  backward_into(d.loss, policy.parameters(), grads);
  result.loss = d.loss.detach();
  return result;
}

// Forward and backward of rows `rows`; the gradient goes to `grads`.
Result<MicroBatchResult> run_micro_batch(const Transformer& policy, const Transformer* reference,
                                         const std::vector<Sample>& batch, const std::vector<size_t>& rows,
                                         const LearnerOptions& o, const LossNormalizer& normalizer,
                                         const GradTarget& grads) {
  MicroBatchResult result;
  MicroBatch mb = make_micro_batch(batch, rows, o, policy.device());
  std::vector<const Sample*> samples;
  for (size_t i : rows) samples.push_back(&batch[i]);
  R1_ASSIGN_OR_RETURN(std::optional<LearnerRouting> routing, routing_of(policy, samples, mb.tokens, o));
  if (o.teacher) return distill_micro_batch(policy, *o.teacher, mb, routing ? &routing->forward : nullptr, o,
                                           normalizer, grads);
  LossInputs inputs;
  at::Tensor entropy;
  inputs.per_token_logps =
      completion_logprobs(policy, mb.tokens, o.temperature, &entropy, routing ? &routing->forward : nullptr) * mb.mask;
  result.entropy_sum = (entropy * mb.mask).sum();
  inputs.old_per_token_logps = mb.old_logprobs;
  if (o.loss.beta != 0) {
    at::NoGradGuard no_grad;
    auto start = std::chrono::steady_clock::now();
    inputs.ref_per_token_logps = completion_logprobs(*reference, mb.tokens, o.temperature) * mb.mask;
    result.ref_logprobs_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  inputs.advantages = mb.advantages;
  inputs.completion_mask = mb.mask;
  inputs.normalizer = normalizer;
  std::map<std::string, at::Tensor> correction_metrics;
  if (o.sampling_correction) {
    at::Tensor old = mb.old_logprobs.defined() ? mb.old_logprobs : inputs.per_token_logps.detach();
    R1_ASSIGN_OR_RETURN(SamplingCorrection c, sampling_correction(old, mb.sampling_logprobs, mb.mask,
                                                                  *o.sampling_correction));
    inputs.importance_weights = c.weights;
    correction_metrics = std::move(c.metrics);
    result.masked_rows = fully_masked(c.weights, mb.mask, rows);
  }
  R1_ASSIGN_OR_RETURN(LossOutput out, grpo_policy_loss(inputs, o.loss));
  out.metrics.merge(correction_metrics);
  if (routing) {
    // The balancing loss keeps a graph only when it is trained.
    at::AutoGradMode grad_mode(o.router_aux_loss_coef != 0 && at::GradMode::is_enabled());
    RoutingTerms terms = routing_terms(*routing, policy.config().moe);
    if (o.router_aux_loss_coef != 0)
      out.loss = out.loss + o.router_aux_loss_coef * terms.aux_loss / static_cast<double>(normalizer.num_micro_batches);
    out.metrics["moe/aux_loss"] = terms.aux_loss.detach();
    result.routing_counts = terms.counts;
  }
  backward_into(out.loss, policy.parameters(), grads);
  result.loss = out.loss.detach();
  result.metrics = std::move(out.metrics);
  return result;
}

// The step's statistic sums, added over the ranks (a rank with no
// micro-batch adds zeros), as one process running the whole step holds them.
Status sum_over_ranks(ProcessGroup& group, const Transformer& policy, at::Tensor& loss, at::Tensor& entropy_sum,
                      std::map<std::string, at::Tensor>& metric_sums, at::Tensor& routing_counts) {
  std::vector<at::Tensor> tensors;
  auto zero = [&](at::Tensor& t) {
    if (!t.defined()) t = at::zeros({}, at::TensorOptions(at::kDouble).device(policy.device()));
    tensors.push_back(t);
  };
  zero(loss);
  zero(entropy_sum);
  for (auto& [name, sum] : metric_sums) zero(sum);
  if (routing_counts.defined()) tensors.push_back(routing_counts);  // every rank has micro-batches: defined on all
  R1_RETURN_IF_ERROR(group.all_reduce(tensors, /*mean=*/false));
  return Status();
}

}  // namespace

Result<LearnerStepStats> accumulate_policy_gradients(const Transformer& policy, const Transformer* reference,
                                                     const std::vector<Sample>& batch, const LearnerOptions& o) {
  R1_RETURN_IF_ERROR(validate(batch, o, reference));
  R1_RETURN_IF_ERROR(check_moe_options(policy, o));
  LearnerStepStats stats;
  size_t n = batch.size();
  for (const Sample& s : batch)
    if (in_loss(s, o)) stats.completion_tokens += static_cast<int64_t>(s.token_ids.size());
  LossNormalizer normalizer;
  normalizer.num_sequences = static_cast<double>(n);
  normalizer.num_tokens = at::scalar_tensor(static_cast<double>(stats.completion_tokens),
                                            at::TensorOptions().device(policy.device()));
  normalizer.num_micro_batches = static_cast<int64_t>((n + o.micro_batch_size - 1) / o.micro_batch_size);
  std::vector<size_t> order = micro_batch_order(batch, o.loss);
  const int64_t ranks = o.group ? o.group->world_size() : 1;
  // Every rank must run a micro-batch: the ranks then sum the same statistics.
  if (normalizer.num_micro_batches < ranks)
    return Status::error("the step's " + std::to_string(normalizer.num_micro_batches) +
                         " micro-batches cannot be split over " + std::to_string(ranks) +
                         " ranks: every rank needs at least one (lower per_device_train_batch_size)");
  std::vector<std::vector<size_t>> all;  // the step's micro-batches: rows of `batch`
  std::vector<int64_t> costs;
  for (size_t begin = 0; begin < n; begin += o.micro_batch_size) {
    all.emplace_back(order.begin() + begin,
                     order.begin() + std::min(n, begin + static_cast<size_t>(o.micro_batch_size)));
    costs.push_back(micro_batch_tokens(batch, all.back()));
  }
  const MicroBatchPlan plan =
      plan_micro_batches(costs, {.streams = o.streams, .group = o.group}, policy.device().is_cpu());
  // Gradients into .grad, summed over the ranks; results in micro-batch order.
  std::vector<MicroBatchResult> results(plan.mine.size());
  R1_RETURN_IF_ERROR(
      run_micro_batches(plan, policy.parameters(), o.group, [&](size_t i, const GradTarget& target) -> Status {
        R1_ASSIGN_OR_RETURN(results[i], run_micro_batch(policy, reference, batch, all[plan.mine[i]], o, normalizer,
                                                        target));
        return Status();
      }));
  // Summed in double, in micro-batch order (the same sums however they
  // ran), and read from the device once per statistic.
  at::Tensor loss, entropy_sum, routing_counts;
  std::map<std::string, at::Tensor> metric_sums;
  auto add = [](at::Tensor& sum, const at::Tensor& x) {
    sum = sum.defined() ? sum + x.to(at::kDouble) : x.to(at::kDouble);
  };
  for (const MicroBatchResult& r : results) {
    add(loss, r.loss);
    add(entropy_sum, r.entropy_sum);
    if (r.routing_counts.defined()) add(routing_counts, r.routing_counts);
    stats.ref_logprobs_seconds += r.ref_logprobs_seconds;
    for (const auto& [name, value] : r.metrics) add(metric_sums[name], value);
    stats.masked_rows.insert(stats.masked_rows.end(), r.masked_rows.begin(), r.masked_rows.end());
  }
  if (o.group) R1_RETURN_IF_ERROR(sum_over_ranks(*o.group, policy, loss, entropy_sum, metric_sums, routing_counts));
  if (routing_counts.defined()) add_routing_metrics(routing_counts, stats.metrics);
  stats.loss = loss.item<double>();
  for (const auto& [name, sum] : metric_sums)
    stats.metrics[name] = sum.item<double>() / static_cast<double>(normalizer.num_micro_batches);
  stats.ref_logprobs_seconds /= plan.streams();
  stats.metrics["entropy"] =
      entropy_sum.item<double>() / static_cast<double>(std::max<int64_t>(1, stats.completion_tokens));
  return stats;
}

Status fill_old_logprobs(const Transformer& policy, std::vector<Sample*>& samples, const LearnerOptions& o) {
  if (o.micro_batch_size < 1) return Status::error("micro_batch_size must be >= 1");
  R1_RETURN_IF_ERROR(check_moe_options(policy, o));
  at::NoGradGuard no_grad;
  for (size_t begin = 0; begin < samples.size(); begin += o.micro_batch_size) {
    size_t end = std::min(samples.size(), begin + static_cast<size_t>(o.micro_batch_size));
    std::vector<std::vector<int64_t>> prompts, completions;
    for (size_t i = begin; i < end; ++i) {
      prompts.push_back(samples[i]->prompt_ids);
      completions.push_back(samples[i]->token_ids);
    }
    PromptCompletionBatch batch = make_prompt_completion_batch(prompts, completions, policy.device());
    R1_ASSIGN_OR_RETURN(std::optional<LearnerRouting> routing,
                        routing_of(policy, {samples.begin() + begin, samples.begin() + end}, batch, o));
    at::Tensor logps = completion_logprobs(policy, batch, o.temperature, nullptr, routing ? &routing->forward : nullptr)
                           .to(at::kCPU, at::kFloat)
                           .contiguous();
    const int64_t T = logps.size(1);
    for (size_t i = begin; i < end; ++i) {
      const float* row = logps.data_ptr<float>() + static_cast<int64_t>(i - begin) * T;
      samples[i]->old_logprobs.assign(row, row + samples[i]->token_ids.size());
    }
  }
  return Status();
}

Result<LearnerStepStats> learner_step(const Transformer& policy, const Transformer* reference, AdamW& optimizer,
                                      const std::vector<Sample>& batch, const LearnerOptions& o) {
  R1_ASSIGN_OR_RETURN(LearnerStepStats stats, accumulate_policy_gradients(policy, reference, batch, o));
  stats.grad_norm = optimizer.clip_grad_norm(o.max_grad_norm);
  R1_RETURN_IF_ERROR(step_optimizer(optimizer, o.learning_rate, o.group));
  return stats;
}

}  // namespace r1
