#include "grpo/learner.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

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
  if (o.loss.beta != 0 && !reference) return Status::error("beta != 0 needs a reference model");
  return Status();
}

bool is_masked(const LearnerBatch& b, size_t i) { return !b.masked.empty() && b.masked[i]; }

// Completion-token log-probs [b, T] of rows [begin, end), their mask, and the
// padded old log-probs (undefined when all rows are on-policy).
struct MicroBatch {
  TokenBatch tokens;
  at::Tensor gather_index;  // [b, T] positions in next_token_logprobs' output
  at::Tensor mask;          // [b, T] float
  at::Tensor old_logprobs;  // [b, T] or undefined
  at::Tensor advantages;    // [b]
};

MicroBatch make_micro_batch(const LearnerBatch& b, size_t begin, size_t end) {
  std::vector<std::vector<int64_t>> sequences;
  int64_t T = 1;
  bool off_policy = false;
  for (size_t i = begin; i < end; ++i) {
    std::vector<int64_t> seq = b.prompt_ids[i];
    seq.insert(seq.end(), b.completion_ids[i].begin(), b.completion_ids[i].end());
    sequences.push_back(std::move(seq));
    T = std::max<int64_t>(T, b.completion_ids[i].size());
    off_policy |= !b.old_logprobs[i].empty();
  }
  int64_t rows = static_cast<int64_t>(end - begin);
  MicroBatch mb{make_token_batch(sequences), at::zeros({rows, T}, at::kLong), at::zeros({rows, T}),
                off_policy ? at::zeros({rows, T}) : at::Tensor(), at::empty({rows}, at::kDouble)};
  for (int64_t r = 0; r < rows; ++r) {
    size_t i = begin + r;
    int64_t p = static_cast<int64_t>(b.prompt_ids[i].size()), c = static_cast<int64_t>(b.completion_ids[i].size());
    float in_loss = is_masked(b, i) ? 0.0f : 1.0f;
    for (int64_t t = 0; t < c; ++t) {
      mb.gather_index[r][t] = p - 1 + t;  // logprob of completion token t is predicted at position p-1+t
      mb.mask[r][t] = in_loss;
      if (off_policy) mb.old_logprobs[r][t] = b.old_logprobs[i].empty() ? 0.0f : b.old_logprobs[i][t];
    }
    mb.advantages[r] = b.advantages[i];
  }
  return mb;
}

at::Tensor completion_logprobs(const Transformer& model, const MicroBatch& mb, double temperature,
                               at::Tensor* entropy = nullptr) {
  at::Tensor all_entropy;
  at::Tensor logprobs = next_token_logprobs(model, mb.tokens, temperature, entropy ? &all_entropy : nullptr);
  if (entropy) *entropy = all_entropy.gather(1, mb.gather_index) * mb.mask;
  return logprobs.gather(1, mb.gather_index) * mb.mask;
}

}  // namespace

Result<LearnerStepStats> accumulate_policy_gradients(const Transformer& policy, const Transformer* reference,
                                                     const LearnerBatch& batch, const LearnerOptions& o) {
  R1_RETURN_IF_ERROR(validate(batch, o, reference));
  LearnerStepStats stats;
  size_t n = batch.prompt_ids.size();
  for (size_t i = 0; i < n; ++i)
    if (!is_masked(batch, i)) stats.completion_tokens += static_cast<int64_t>(batch.completion_ids[i].size());
  double entropy_sum = 0;
  LossNormalizer normalizer;
  normalizer.num_sequences = static_cast<double>(n);
  normalizer.num_tokens = at::scalar_tensor(static_cast<double>(stats.completion_tokens));
  normalizer.num_micro_batches = static_cast<int64_t>((n + o.micro_batch_size - 1) / o.micro_batch_size);
  for (size_t begin = 0; begin < n; begin += o.micro_batch_size) {
    MicroBatch mb = make_micro_batch(batch, begin, std::min(n, begin + static_cast<size_t>(o.micro_batch_size)));
    LossInputs inputs;
    at::Tensor entropy;
    inputs.per_token_logps = completion_logprobs(policy, mb, o.temperature, &entropy);
    entropy_sum += entropy.sum().item<double>();
    inputs.old_per_token_logps = mb.old_logprobs;
    if (o.loss.beta != 0) {
      at::NoGradGuard no_grad;
      inputs.ref_per_token_logps = completion_logprobs(*reference, mb, o.temperature);
    }
    inputs.advantages = mb.advantages.to(at::kFloat);
    inputs.completion_mask = mb.mask;
    inputs.normalizer = normalizer;
    R1_ASSIGN_OR_RETURN(LossOutput out, grpo_policy_loss(inputs, o.loss));
    out.loss.backward();
    stats.loss += out.loss.item<double>();
    for (const auto& [name, value] : out.metrics)
      stats.metrics[name] += value.item<double>() / static_cast<double>(normalizer.num_micro_batches);
  }
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
