// grpo_loss_oracle IN OUT: runs grpo_policy_loss (or an advantage estimator)
// on tensors read from the safetensors file IN and writes the results to the
// safetensors file OUT, for tests/python/test_grpo_loss_parity.py, which
// feeds the same inputs to TRL. Options travel as IN's string metadata.
//
// Loss mode (metadata mode=loss): tensors per_token_logps, completion_mask,
// advantages, optional old_per_token_logps / ref_per_token_logps / num_tokens;
// metadata loss_type, epsilon, epsilon_high, beta, delta, importance_sampling_level,
// use_bias_correction_kl, max_completion_length, num_sequences, num_micro_batches.
// Writes loss, grad (d loss / d per_token_logps) and one tensor per metric.
// With a tensor sampling_per_token_logps (and old_per_token_logps), the
// importance-sampling correction of grpo/sampling_correction.h weights the
// loss; metadata is_mode, optional is_clip_min / is_clip_max; its weights
// are written as importance_weights and its metrics beside the loss's.
//
// Advantage mode (mode=advantages): tensor rewards; metadata estimator,
// num_generations, scale_rewards. Writes advantages, std_zero, group_std_zero,
// frac_reward_zero_std.
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <cstdlib>

#include "grpo/advantages.h"
#include "grpo/policy_loss.h"
#include "grpo/sampling_correction.h"
#include "model/safetensors.h"

namespace r1 {
namespace {

using Meta = std::map<std::string, std::string>;

Result<std::string> meta(const Meta& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return Status::error("metadata key '" + key + "' is missing");
  return it->second;
}

Result<double> meta_double(const Meta& m, const std::string& key) {
  R1_ASSIGN_OR_RETURN(std::string text, meta(m, key));
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end) return Status::error("metadata key '" + key + "' must be a number, got '" + text + "'");
  return v;
}

at::Tensor optional_tensor(const TensorMap& t, const std::string& name) {
  auto it = t.find(name);
  return it == t.end() ? at::Tensor() : it->second.clone();
}

Result<TensorMap> run_loss(const SafetensorsFile& in) {
  const Meta& m = in.metadata;
  LossOptions opt;
  R1_ASSIGN_OR_RETURN(opt.loss_type, meta(m, "loss_type"));
  R1_ASSIGN_OR_RETURN(opt.epsilon, meta_double(m, "epsilon"));
  R1_ASSIGN_OR_RETURN(opt.epsilon_high, meta_double(m, "epsilon_high"));
  R1_ASSIGN_OR_RETURN(opt.beta, meta_double(m, "beta"));
  if (m.count("delta")) {
    R1_ASSIGN_OR_RETURN(double delta, meta_double(m, "delta"));
    opt.delta = delta;
  }
  R1_ASSIGN_OR_RETURN(opt.importance_sampling_level, meta(m, "importance_sampling_level"));
  R1_ASSIGN_OR_RETURN(double bias_kl, meta_double(m, "use_bias_correction_kl"));
  opt.use_bias_correction_kl = bias_kl != 0;
  R1_ASSIGN_OR_RETURN(double max_len, meta_double(m, "max_completion_length"));
  opt.max_completion_length = static_cast<int64_t>(max_len);

  LossInputs inputs;
  at::Tensor logps = optional_tensor(in.tensors, "per_token_logps");
  if (!logps.defined()) return Status::error("tensor 'per_token_logps' is missing");
  inputs.per_token_logps = logps.set_requires_grad(true);
  inputs.old_per_token_logps = optional_tensor(in.tensors, "old_per_token_logps");
  inputs.ref_per_token_logps = optional_tensor(in.tensors, "ref_per_token_logps");
  inputs.advantages = optional_tensor(in.tensors, "advantages");
  inputs.completion_mask = optional_tensor(in.tensors, "completion_mask");
  inputs.normalizer.num_tokens = optional_tensor(in.tensors, "num_tokens");
  R1_ASSIGN_OR_RETURN(inputs.normalizer.num_sequences, meta_double(m, "num_sequences"));
  R1_ASSIGN_OR_RETURN(double micro, meta_double(m, "num_micro_batches"));
  inputs.normalizer.num_micro_batches = static_cast<int64_t>(micro);

  std::map<std::string, at::Tensor> correction_metrics;
  at::Tensor sampling = optional_tensor(in.tensors, "sampling_per_token_logps");
  if (sampling.defined()) {
    SamplingCorrectionOptions is;
    R1_ASSIGN_OR_RETURN(is.mode, meta(m, "is_mode"));
    is.clip_min.reset();
    is.clip_max.reset();
    if (m.count("is_clip_min")) {
      R1_ASSIGN_OR_RETURN(is.clip_min, meta_double(m, "is_clip_min"));
    }
    if (m.count("is_clip_max")) {
      R1_ASSIGN_OR_RETURN(is.clip_max, meta_double(m, "is_clip_max"));
    }
    R1_ASSIGN_OR_RETURN(SamplingCorrection c,
                        sampling_correction(inputs.old_per_token_logps, sampling, inputs.completion_mask, is));
    inputs.importance_weights = c.weights;
    correction_metrics = std::move(c.metrics);
    correction_metrics["importance_weights"] = c.weights;
  }
  R1_ASSIGN_OR_RETURN(LossOutput out, grpo_policy_loss(inputs, opt));
  TensorMap result = {{"loss", out.loss.detach()},
                      {"grad", torch::autograd::grad({out.loss}, {inputs.per_token_logps})[0]}};
  for (const auto& [name, value] : out.metrics) result[name] = value;
  for (const auto& [name, value] : correction_metrics) result[name] = value;
  return result;
}

Result<TensorMap> run_advantages(const SafetensorsFile& in) {
  const Meta& m = in.metadata;
  R1_ASSIGN_OR_RETURN(std::string name, meta(m, "estimator"));
  R1_ASSIGN_OR_RETURN(AdvantageFn fn, advantage_estimator(name));
  AdvantageOptions opt;
  R1_ASSIGN_OR_RETURN(double g, meta_double(m, "num_generations"));
  opt.num_generations = static_cast<int64_t>(g);
  R1_ASSIGN_OR_RETURN(opt.scale_rewards, meta(m, "scale_rewards"));
  at::Tensor rewards = optional_tensor(in.tensors, "rewards");
  if (!rewards.defined()) return Status::error("tensor 'rewards' is missing");
  R1_ASSIGN_OR_RETURN(AdvantageOutput out, fn(rewards, opt));
  return TensorMap{{"advantages", out.advantages},
                   {"std_zero", out.std_zero},
                   {"group_std_zero", out.group_std_zero},
                   {"frac_reward_zero_std", out.frac_reward_zero_std}};
}

Status run(const std::string& in_path, const std::string& out_path) {
  R1_ASSIGN_OR_RETURN(SafetensorsFile in, load_safetensors(in_path));
  auto mode = in.metadata.find("mode");
  if (mode == in.metadata.end()) return Status::error(in_path + ": metadata 'mode' is missing");
  Result<TensorMap> out = Status::error("metadata 'mode' must be 'loss' or 'advantages'");
  if (mode->second == "loss") out = run_loss(in);
  if (mode->second == "advantages") out = run_advantages(in);
  if (!out.ok()) return out.status().with_context(in_path);
  return save_safetensors(out_path, *out);
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: grpo_loss_oracle IN.safetensors OUT.safetensors\n");
    return 2;
  }
  r1::Status status = r1::run(argv[1], argv[2]);
  if (!status.ok()) {
    std::fprintf(stderr, "grpo_loss_oracle: error: %s\n", status.message().c_str());
    return 1;
  }
  return 0;
}
