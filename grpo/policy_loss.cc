#include "grpo/policy_loss.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <limits>

#include "grpo/grpo_config.h"
#include "util/registry.h"

namespace r1 {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

Status check_same_shape(const at::Tensor& t, const at::Tensor& like, const char* name) {
  if (t.sizes() != like.sizes())
    return Status::error(std::string("policy loss: ") + name + " has shape " + shape_of(t) + ", expected " +
                         shape_of(like) + " like per_token_logps");
  return {};
}

Status check_inputs(const LossInputs& in, const LossOptions& opt) {
  const at::Tensor& logps = in.per_token_logps;
  if (!logps.defined() || logps.dim() != 2 || !logps.is_floating_point())
    return Status::error("policy loss: per_token_logps must be a 2-D floating tensor [B,T]");
  if (!in.completion_mask.defined()) return Status::error("policy loss: completion_mask is missing");
  R1_RETURN_IF_ERROR(check_same_shape(in.completion_mask, logps, "completion_mask"));
  if (in.old_per_token_logps.defined())
    R1_RETURN_IF_ERROR(check_same_shape(in.old_per_token_logps, logps, "old_per_token_logps"));
  if (opt.beta != 0.0) {
    if (!in.ref_per_token_logps.defined())
      return Status::error("policy loss: ref_per_token_logps is required when beta != 0");
    R1_RETURN_IF_ERROR(check_same_shape(in.ref_per_token_logps, logps, "ref_per_token_logps"));
  }
  const at::Tensor& w = in.importance_weights;
  if (w.defined() && !(w.dim() == 2 && w.size(0) == logps.size(0) && (w.size(1) == 1 || w.size(1) == logps.size(1))))
    return Status::error("policy loss: importance_weights has shape " + shape_of(w) + ", expected [" +
                         std::to_string(logps.size(0)) + ",1] or " + shape_of(logps));
  const at::Tensor& adv = in.advantages;
  bool adv_ok = adv.defined() && ((adv.dim() == 1 && adv.size(0) == logps.size(0)) || adv.sizes() == logps.sizes());
  if (!adv_ok)
    return Status::error("policy loss: advantages has shape " + (adv.defined() ? shape_of(adv) : "undefined") +
                         ", expected [" + std::to_string(logps.size(0)) + "] or " + shape_of(logps));
  if (!(opt.epsilon >= 0.0)) return Status::error("policy loss: epsilon must be >= 0");
  if (!(opt.epsilon_high >= 0.0)) return Status::error("policy loss: epsilon_high must be >= 0");
  if (!(opt.beta >= 0.0)) return Status::error("policy loss: beta must be >= 0");
  if (opt.delta && !(*opt.delta > 0.0)) return Status::error("policy loss: delta must be > 0 when set");
  if (opt.importance_sampling_level != "token" && opt.importance_sampling_level != "sequence")
    return Status::error("policy loss: importance_sampling_level must be 'token' or 'sequence', got '" +
                         opt.importance_sampling_level + "'");
  return {};
}

// ---- aggregators: masked per-token loss [B,T] (or [B,1]) → scalar ----

Result<at::Tensor> aggregate_grpo(const at::Tensor& ptl, const at::Tensor& mask, const LossNormalizer& n,
                                  const LossOptions&) {
  // TRL: mean over the micro-batch of per-sequence token means, / accumulation steps.
  if (!(n.num_sequences > 0)) return Status::error("policy loss (grpo): normalizer.num_sequences must be > 0");
  at::Tensor seq_means = (ptl * mask).sum(-1) / mask.sum(-1).clamp_min(1.0);
  return seq_means.sum() / n.num_sequences;
}

Result<at::Tensor> aggregate_bnpo(const at::Tensor& ptl, const at::Tensor& mask, const LossNormalizer& n,
                                  const LossOptions&) {
  // TRL: token mean over the local micro-batch, / accumulation steps (not micro-batch invariant by design).
  if (n.num_micro_batches < 1) return Status::error("policy loss (bnpo): normalizer.num_micro_batches must be >= 1");
  return (ptl * mask).sum() / mask.sum().clamp_min(1.0) / static_cast<double>(n.num_micro_batches);
}

Result<at::Tensor> aggregate_dr_grpo(const at::Tensor& ptl, const at::Tensor& mask, const LossNormalizer& n,
                                     const LossOptions& opt) {
  if (!(n.num_sequences > 0)) return Status::error("policy loss (dr_grpo): normalizer.num_sequences must be > 0");
  if (opt.max_completion_length < 1) return Status::error("policy loss (dr_grpo): max_completion_length must be >= 1");
  return (ptl * mask).sum() / (n.num_sequences * static_cast<double>(opt.max_completion_length));
}

Result<at::Tensor> aggregate_dapo(const at::Tensor& ptl, const at::Tensor& mask, const LossNormalizer& n,
                                  const LossOptions&) {
  if (!n.num_tokens.defined() || n.num_tokens.numel() != 1)
    return Status::error("policy loss (dapo): normalizer.num_tokens must be a one-element tensor");
  return (ptl * mask).sum() / n.num_tokens.reshape({}).to(ptl.scalar_type()).clamp_min(1.0);
}

const Registry<LossAggregator>& aggregators() {
  static const Registry<LossAggregator> registry = {
      {"grpo", aggregate_grpo}, {"bnpo", aggregate_bnpo}, {"dr_grpo", aggregate_dr_grpo}, {"dapo", aggregate_dapo}};
  return registry;
}

// ---- metrics, TRL's definitions, on detached tensors ----

at::Tensor nanmin(const at::Tensor& x) {
  at::Tensor nan = at::isnan(x);
  at::Tensor m = at::where(nan, std::numeric_limits<double>::infinity(), x).min();
  return at::where(nan.all(), std::numeric_limits<double>::quiet_NaN(), m);
}
at::Tensor nanmax(const at::Tensor& x) { return -nanmin(-x); }

struct MetricMeans {
  const at::Tensor& mask;
  // Token-weighted mean over the micro-batch; one value per sequence at sequence level.
  at::Tensor global(const at::Tensor& x) const {
    if (x.size(1) == 1) return x.sum() / static_cast<double>(std::max<int64_t>(x.size(0), 1));
    return (x * mask).sum() / mask.sum().clamp_min(1.0);
  }
  // Per-sequence means [B] (NaN for an empty sequence, skipped by nanmin/nanmax).
  at::Tensor per_sequence(const at::Tensor& x) const {
    if (x.size(1) == 1) return x.squeeze(1);
    return (x * mask).sum(-1) / mask.sum(-1);
  }
};

std::map<std::string, at::Tensor> clip_metrics(const at::Tensor& coef_1, const at::Tensor& adv, const at::Tensor& mask,
                                               const LossOptions& opt) {
  MetricMeans means{mask};
  at::Tensor low = ((coef_1 < 1.0 - opt.epsilon) & (adv < 0)).to(mask.scalar_type());
  at::Tensor high = ((coef_1 > 1.0 + opt.epsilon_high) & (adv > 0)).to(mask.scalar_type());
  at::Tensor region = at::maximum(low, high);
  return {{"clip_ratio/low_mean", means.global(low)},
          {"clip_ratio/high_mean", means.global(high)},
          {"clip_ratio/region_mean", means.global(region)},
          {"clip_ratio/low_min", nanmin(means.per_sequence(low))},
          {"clip_ratio/high_max", nanmax(means.per_sequence(high))}};
}

}  // namespace

Result<LossAggregator> loss_aggregator(std::string_view loss_type) {
  return registry_lookup(aggregators(), loss_type, "loss_type");
}

// bnpo divides by the micro-batch's own token count (aggregate_bnpo).
bool loss_depends_on_micro_batching(std::string_view loss_type) { return loss_type == "bnpo"; }

std::vector<std::string> loss_type_names() { return registry_names(aggregators()); }

Result<LossOutput> grpo_policy_loss(const LossInputs& in, const LossOptions& opt) {
  R1_ASSIGN_OR_RETURN(LossAggregator aggregate, loss_aggregator(opt.loss_type));
  R1_RETURN_IF_ERROR(check_inputs(in, opt));
  const at::Tensor& logps = in.per_token_logps;                                  // [B,T]
  const at::Tensor mask = in.completion_mask.to(logps.scalar_type());            // [B,T]
  const at::Tensor adv = in.advantages.dim() == 1 ? in.advantages.unsqueeze(1) : in.advantages;  // [B,1] | [B,T]
  const at::Tensor old = in.old_per_token_logps.defined() ? in.old_per_token_logps : logps.detach();

  at::Tensor log_ratio = logps - old;  // [B,T]
  at::Tensor log_weights = log_ratio;  // [B,T] token level, [B,1] sequence level (GSPO)
  if (opt.importance_sampling_level == "sequence")
    log_weights = ((log_ratio * mask).sum(-1) / mask.sum(-1).clamp_min(1.0)).unsqueeze(-1);
  at::Tensor coef_1 = at::exp(log_weights);

  at::Tensor per_token_kl;  // k3 estimator of KL(π_θ‖π_ref), [B,T]
  if (opt.beta != 0.0) {
    at::Tensor d = in.ref_per_token_logps - logps;
    per_token_kl = at::exp(d) - d - 1.0;
    if (opt.use_bias_correction_kl) per_token_kl = per_token_kl * coef_1;
  }

  at::Tensor coef_2 = at::clamp(coef_1, 1.0 - opt.epsilon, 1.0 + opt.epsilon_high);
  if (opt.delta) coef_1 = at::clamp_max(coef_1, *opt.delta);
  at::Tensor per_token_loss = -at::minimum(coef_1 * adv, coef_2 * adv);
  if (in.importance_weights.defined()) per_token_loss = per_token_loss * in.importance_weights;
  if (opt.beta != 0.0) per_token_loss = per_token_loss + opt.beta * per_token_kl;

  LossOutput out;
  R1_ASSIGN_OR_RETURN(out.loss, aggregate(per_token_loss, mask, in.normalizer, opt));

  at::NoGradGuard no_grad;
  out.metrics = clip_metrics(coef_1.detach(), adv.detach(), mask, opt);
  if (opt.beta != 0.0) out.metrics["kl"] = MetricMeans{mask}.global(per_token_kl.detach());
  return out;
}

LossOptions loss_options_from_config(const GRPOConfig& c) {
  LossOptions o;
  o.loss_type = c.loss_type;
  o.epsilon = c.epsilon;
  o.epsilon_high = c.epsilon_high.value_or(c.epsilon);
  o.beta = c.beta;
  o.delta = c.delta;
  o.importance_sampling_level = c.importance_sampling_level;
  o.use_bias_correction_kl = c.use_bias_correction_kl;
  o.max_completion_length = c.max_completion_length;
  return o;
}

}  // namespace r1
