// GPU against CPU, in the style of llama.cpp's test-backend-ops: the same
// weights and inputs on both backends, the outputs compared with a tolerance
// per dtype. Runs when R1_TEST_DEVICE names a device (scripts/gpu_check.sh
// sets R1_TEST_DEVICE=cuda; "cpu" checks the harness, CPU against itself);
// unset, every test skips and says why. A GPU that is asked for but not
// there is a failure, not a skip.
//
// Tolerances: the largest |difference| divided by the largest |CPU value|.
//   fp32 1e-4: the backends sum in different orders (cuBLAS splits K, SDPA
//     tiles the softmax), nothing else differs;
//   bf16 3e-2: a bf16 rounding (8-bit mantissa, 2^-8 = 4e-3 relative) of the
//     activations at every layer, each backend rounding different sums;
//     6e-2 for gradients, which the backward rounds again (measured on an
//     H200: 3.2e-2).
// Sampled tokens must be equal: both backends draw with the same
// counter-based uniform numbers, and a token flips only when a number falls
// within ~1e-6 of a cumulative-probability boundary.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "grpo/learner.h"
#include "model/cuda_kernels.h"
#include "model/device.h"
#include "model/generate.h"
#include "model/layer_ops.h"
#include "model/sampler.h"
#include "model/scoring.h"
#include "model/test_models.h"
#include "train/optimizer.h"
#include "util/counter_rng.h"

namespace r1 {
namespace {

constexpr double kFp32Tolerance = 1e-4;
constexpr double kBf16Tolerance = 3e-2;
constexpr double kBf16GradientTolerance = 6e-2;

// The device R1_TEST_DEVICE names, or nullopt (the test then skips).
std::optional<at::Device> test_device() {
  const char* env = std::getenv("R1_TEST_DEVICE");
  if (env == nullptr) return std::nullopt;
  Result<at::Device> device = resolve_device(env);
  if (!device.ok()) ADD_FAILURE() << "R1_TEST_DEVICE=" << env << ": " << device.status().message();
  return device.ok() ? std::optional<at::Device>(*device) : std::nullopt;
}

#define R1_REQUIRE_TEST_DEVICE(name)                                                      \
  std::optional<at::Device> name##_or = test_device();                                    \
  if (!name##_or) GTEST_SKIP() << "R1_TEST_DEVICE is not set (cuda to test a GPU)"; \
  const at::Device name = *name##_or

// `m`'s weights on `device` in `dtype`.
Transformer on(const Transformer& m, at::Device device, at::ScalarType dtype, bool trainable = false) {
  TensorMap t;
  for (const auto& [n, w] : m.tensors()) t[n] = w.detach().clone();
  return value_or_throw(
      Transformer::from_tensors(m.config(), t, {.dtype = dtype, .trainable = trainable, .device = device}));
}

// max |cpu - other| / max |cpu|, `other` brought to the CPU in fp32.
double relative_error(const at::Tensor& cpu, const at::Tensor& other) {
  at::Tensor a = cpu.detach().to(at::kFloat), b = other.detach().to(at::kCPU, at::kFloat);
  EXPECT_EQ(a.sizes(), b.sizes());
  double scale = a.abs().max().item<double>();
  return (a - b).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

double tolerance(at::ScalarType dtype) { return dtype == at::kBFloat16 ? kBf16Tolerance : kFp32Tolerance; }

const std::vector<std::vector<int64_t>> kSequences = {{1, 5, 9, 2, 7, 30, 11}, {3, 4, 8, 12, 40, 41, 2, 2, 9, 17, 6, 1},
                                                      {50, 2, 33}};

// model/cuda_kernels.h against the ATen ops they replace, on the same GPU:
// equal, but for the norms' sums of squares, which the two add in different
// orders (then at most one rounding step of the dtype apart).
TEST(Backend, FusedKernelsEqualTheAtenOps) {
  R1_REQUIRE_TEST_DEVICE(device);
  if (!device.is_cuda()) GTEST_SKIP() << "the fused kernels run on CUDA tensors only";
  if (!cuda::kernels_built) GTEST_SKIP() << "this build has no CUDA kernels (no nvcc when it was configured)";
  at::AutoGradMode no_grad(false);
  at::Generator gen = at::detail::createCPUGenerator(21);
  auto randn = [&](at::IntArrayRef shape, at::ScalarType dtype) {
    return at::normal(0.0, 1.0, shape, gen).to(device, dtype);
  };
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    const double step = dtype == at::kBFloat16 ? 1.0 / 128 : 1.0 / (1 << 22);  // one rounding step, relative
    auto within_a_step = [&](const at::Tensor& got, const at::Tensor& want) {
      at::Tensor g = got.to(at::kFloat), w = want.to(at::kFloat);
      return ((g - w).abs() <= w.abs() * step + 1e-6).all().item<bool>();
    };
    // RMSNorm, and the residual add before it, as transformers computes them.
    at::Tensor x = randn({5, 96}, dtype), delta = randn({5, 96}, dtype), weight = randn({96}, dtype);
    auto reference = [&](const at::Tensor& h) {
      at::Tensor f = h.to(at::kFloat);
      return weight * (f * at::rsqrt(f.pow(2).mean(-1, true) + 1e-6)).to(dtype);
    };
    EXPECT_TRUE(within_a_step(cuda::rms_norm(x, weight, 1e-6), reference(x)));
    auto [sum, normed] = cuda::add_rms_norm(x, delta, weight, 1e-6);
    EXPECT_TRUE(at::equal(sum, x + delta));
    EXPECT_TRUE(within_a_step(normed, reference(x + delta)));
    // SiLU and multiply.
    at::Tensor gate_up = randn({2, 3, 2 * 40}, dtype);
    EXPECT_TRUE(at::equal(cuda::silu_mul(gate_up), at::silu(gate_up.narrow(-1, 0, 40)) * gate_up.narrow(-1, 40, 40)));
    // RoPE on queries and keys, keys and values into the cache at each position's slot.
    const int64_t B = 3, L = 2, H = 4, KV = 2, D = 16, T = 8;
    at::Tensor qkv = randn({B, L, (H + 2 * KV) * D}, dtype);
    at::Tensor angles =
        (at::arange(B * L, at::kFloat).view({B, 1, L, 1}) * 0.7 + 1) * at::arange(1, D / 2 + 1, at::kFloat) * 0.3;
    auto [cos, sin] = rope_tables(angles.to(device), 1.0, dtype);
    at::Tensor slots = at::tensor(std::vector<int64_t>{0, 1, 5, 6, 2, 3}).view({B, L}).to(device);
    at::Tensor k_cache = at::zeros({B, KV, T, D}, qkv.options()), v_cache = at::zeros_like(k_cache);
    at::Tensor q = cuda::rope_into_cache(qkv, cos, sin, H, k_cache, v_cache, slots);
    at::Tensor heads = qkv.view({B, L, H + 2 * KV, D});
    at::Tensor rotated = apply_rope(heads.narrow(2, 0, H + KV), cos.transpose(1, 2), sin.transpose(1, 2));
    EXPECT_TRUE(at::equal(q, rotated.narrow(2, 0, H).transpose(1, 2)));
    at::Tensor want_k = at::zeros_like(k_cache), want_v = at::zeros_like(v_cache);
    at::Tensor rows = at::arange(B, slots.options()).unsqueeze(1).expand({B, L});
    want_k.index_put_({rows, at::indexing::Slice(), slots}, rotated.narrow(2, H, KV));
    want_v.index_put_({rows, at::indexing::Slice(), slots}, heads.narrow(2, H + KV, KV));
    EXPECT_TRUE(at::equal(k_cache, want_k));
    EXPECT_TRUE(at::equal(v_cache, want_v));
  }
}

TEST(Backend, LogitsOfAPaddedBatch) {
  R1_REQUIRE_TEST_DEVICE(device);
  for (ModelFamily family : {ModelFamily::qwen2, ModelFamily::llama, ModelFamily::qwen3, ModelFamily::deepseek_v3}) {
    Transformer cpu_model = tiny_random_model(64, 0.2, 3, false, family);
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      Transformer cpu = on(cpu_model, at::kCPU, dtype), gpu = on(cpu_model, device, dtype);
      at::Tensor want = cpu.lm_head(batch_hidden(cpu, make_token_batch(kSequences)));
      at::Tensor got = gpu.lm_head(batch_hidden(gpu, make_token_batch(kSequences, device)));
      for (size_t i = 0; i < kSequences.size(); ++i) {
        int64_t n = static_cast<int64_t>(kSequences[i].size());
        EXPECT_LT(relative_error(want[i].slice(0, 0, n), got[i].slice(0, 0, n)), tolerance(dtype))
            << model_family_name(family) << " " << c10::toString(dtype) << " row " << i;
      }
    }
  }
}

TEST(Backend, SampledTokensAndTheirLogprobs) {
  R1_REQUIRE_TEST_DEVICE(device);
  at::Tensor logits = at::randn({64, 100}, at::detail::createCPUGenerator(1)) * 3;
  std::vector<float> u;
  for (int64_t r = 0; r < 64; ++r) u.push_back(uniform24(stream_key({5, static_cast<uint64_t>(r)}), 0));
  at::Tensor uniforms = at::tensor(u);
  std::vector<SamplingOptions> cases = {
      {}, {.temperature = 0.7, .top_k = 20}, {.top_p = 0.9}, {.min_p = 0.05}, {.temperature = 0.0}};
  for (const SamplingOptions& o : cases) {
    SampledTokens want = sample_tokens(logits, o, uniforms);
    SampledTokens got = sample_tokens(logits.to(device), o, uniforms.to(device));
    EXPECT_TRUE(at::equal(want.tokens, got.tokens.cpu())) << "temperature " << o.temperature << " top_k " << o.top_k
                                                          << " top_p " << o.top_p << " min_p " << o.min_p;
    EXPECT_LT(relative_error(want.logprobs, got.logprobs), kFp32Tolerance);
  }
}

std::vector<RolloutPrompt> rollout_prompts() {
  std::vector<RolloutPrompt> prompts;
  for (size_t i = 0; i < kSequences.size(); ++i) prompts.push_back({static_cast<int64_t>(i), kSequences[i]});
  return prompts;
}

// The same tokens and finish reasons, log-probs within the fp32 tolerance.
void expect_same_samples(const std::vector<Sample>& want, const std::vector<Sample>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].token_ids, got[i].token_ids) << what << ", sample " << i;
    EXPECT_EQ(want[i].finish_reason, got[i].finish_reason) << what << ", sample " << i;
    EXPECT_LT(relative_error(at::tensor(want[i].logprobs), at::tensor(got[i].logprobs)), kFp32Tolerance) << what;
  }
}

GenerationOptions generation(double temperature, int64_t num_samples, int64_t max_new_tokens, uint64_t seed,
                             std::vector<int64_t> stop_token_ids) {
  GenerationOptions o;
  o.sampling.temperature = temperature;
  o.num_samples = num_samples;
  o.max_new_tokens = max_new_tokens;
  o.seed = seed;
  o.stop_token_ids = std::move(stop_token_ids);
  return o;
}

TEST(Backend, GeneratedCompletions) {
  R1_REQUIRE_TEST_DEVICE(device);
  Transformer cpu = tiny_random_model(64, 0.2, 4), gpu = on(cpu, device, at::kFloat);
  std::vector<RolloutPrompt> prompts = rollout_prompts();
  for (double temperature : {1.0, 0.0}) {
    GenerationOptions o = generation(temperature, /*num_samples=*/3, /*max_new_tokens=*/16, /*seed=*/11, {2});
    auto want = value_or_throw(generate(cpu, prompts, o));
    auto got = value_or_throw(generate(gpu, prompts, o));
    expect_same_samples(want, got, "temperature " + std::to_string(temperature));
  }
}

// On a GPU, decode steps replay as CUDA graphs by default: the same samples as
// eager steps, through rows finishing mid-window and cache compactions, in
// every dense family (DeepSeekMoE routes tokens in host-read shapes, so its
// steps stay eager).
TEST(Backend, GraphDecodingEqualsEagerDecoding) {
  R1_REQUIRE_TEST_DEVICE(device);
  if (!device.is_cuda()) GTEST_SKIP() << "CUDA graphs need a GPU";
  std::vector<RolloutPrompt> prompts = rollout_prompts();
  for (ModelFamily family : {ModelFamily::qwen2, ModelFamily::llama, ModelFamily::qwen3, ModelFamily::deepseek_v3}) {
    Transformer gpu = on(tiny_random_model(64, 0.2, 5, false, family), device, at::kFloat);
    const bool dense = family != ModelFamily::deepseek_v3;
    for (double temperature : {1.0, 0.0}) {
      const std::string what = std::string(model_family_name(family)) + ", temperature " + std::to_string(temperature);
      GenerationOptions o = generation(temperature, /*num_samples=*/8, /*max_new_tokens=*/30, /*seed=*/3, {2, 9});
      GenerationStats graphed, eager;
      auto want = value_or_throw(generate(gpu, prompts, o, &graphed));
      o.cuda_graphs = false;
      auto got = value_or_throw(generate(gpu, prompts, o, &eager));
      EXPECT_EQ(graphed.graph_steps > 0, dense) << what;
      EXPECT_EQ(eager.graph_steps, 0);
      EXPECT_EQ(graphed.decode_tokens, eager.decode_tokens) << what;
      expect_same_samples(want, got, what);
    }
  }
}

// Log-probs and entropies of completions after shared prompts, and the
// gradients of a weighted sum of the log-probs with respect to every weight.
TEST(Backend, CompletionLogprobsAndGradients) {
  R1_REQUIRE_TEST_DEVICE(device);
  Transformer base = tiny_random_model(64, 0.2, 6);
  std::vector<std::vector<int64_t>> prompts = {kSequences[0], kSequences[0], kSequences[2]};
  std::vector<std::vector<int64_t>> completions = {{4, 5, 6}, {7, 8, 9, 10, 11}, {12}};
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    Transformer cpu = on(base, at::kCPU, dtype, true), gpu = on(base, device, dtype, true);
    at::Tensor entropy_cpu, entropy_gpu;
    at::Tensor want = completion_logprobs(cpu, make_prompt_completion_batch(prompts, completions), 1.0, &entropy_cpu);
    at::Tensor got =
        completion_logprobs(gpu, make_prompt_completion_batch(prompts, completions, device), 1.0, &entropy_gpu);
    EXPECT_LT(relative_error(want, got), tolerance(dtype)) << c10::toString(dtype);
    EXPECT_LT(relative_error(entropy_cpu, entropy_gpu), tolerance(dtype)) << c10::toString(dtype);
    at::Tensor weights = at::linspace(-1, 1, want.numel()).view(want.sizes());
    (want.to(at::kFloat) * weights).sum().backward();
    (got.to(at::kFloat) * weights.to(device)).sum().backward();
    double gradient_tolerance = dtype == at::kBFloat16 ? kBf16GradientTolerance : kFp32Tolerance;
    for (const auto& [name, w] : cpu.tensors())
      EXPECT_LT(relative_error(w.grad(), gpu.tensors().at(name).grad()), gradient_tolerance)
          << name << " " << c10::toString(dtype);
  }
}

Sample sequence(std::vector<int64_t> prompt, std::vector<int64_t> completion, double advantage) {
  std::vector<float> sampled(completion.size(), -2.5f);
  return {.prompt_ids = std::move(prompt), .token_ids = std::move(completion), .logprobs = sampled,
          .advantage = advantage};
}

// Two GRPO steps (beta > 0, off-policy ratios, micro-batches, clipping, AdamW).
TEST(Backend, LearnerSteps) {
  R1_REQUIRE_TEST_DEVICE(device);
  Transformer base = tiny_random_model(64, 0.2, 7);
  std::vector<Sample> batch = {sequence({1, 2, 3}, {7, 8, 9, 10}, 1.0), sequence({1, 2, 3}, {7, 11}, -1.0),
                               sequence({4, 5}, {12, 13, 14}, 0.5), sequence({4, 5}, {15}, -0.5)};
  LearnerOptions o;
  o.use_sampling_logprobs = true;
  o.micro_batch_size = 2;
  o.learning_rate = 1e-3;
  o.loss.beta = 0.04;
  Transformer cpu = on(base, at::kCPU, at::kFloat, true), gpu = on(base, device, at::kFloat, true);
  Transformer ref_cpu = on(base, at::kCPU, at::kFloat), ref_gpu = on(base, device, at::kFloat);
  AdamW opt_cpu(cpu, {}), opt_gpu(gpu, {});
  for (int step = 0; step < 2; ++step) {
    LearnerStepStats want = value_or_throw(learner_step(cpu, &ref_cpu, opt_cpu, batch, o));
    LearnerStepStats got = value_or_throw(learner_step(gpu, &ref_gpu, opt_gpu, batch, o));
    EXPECT_NEAR(got.loss, want.loss, kFp32Tolerance * std::abs(want.loss)) << "step " << step;
    EXPECT_NEAR(got.grad_norm, want.grad_norm, kFp32Tolerance * want.grad_norm) << "step " << step;
    for (const auto& [name, value] : want.metrics)
      EXPECT_NEAR(got.metrics.at(name), value, kFp32Tolerance * std::max(1.0, std::abs(value))) << name;
  }
  // Not k_proj.bias: adding it to every key leaves each softmax unchanged, so
  // its exact gradient is 0 and AdamW's normalised step turns each backend's
  // rounding noise into full-size steps of either sign.
  for (const auto& [name, w] : cpu.tensors()) {
    if (name.find("k_proj.bias") == std::string::npos) {
      EXPECT_LT(relative_error(w, gpu.tensors().at(name)), kFp32Tolerance) << name;
    }
  }
}

// Three AdamW steps on the same gradients; a bf16 model steps its fp32 masters.
TEST(Backend, AdamWSteps) {
  R1_REQUIRE_TEST_DEVICE(device);
  Transformer base = tiny_random_model(64, 0.2, 8);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    Transformer cpu = on(base, at::kCPU, dtype, true), gpu = on(base, device, dtype, true);
    AdamW opt_cpu(cpu, {.weight_decay = 0.1}), opt_gpu(gpu, {.weight_decay = 0.1});
    at::Generator g = at::detail::createCPUGenerator(9);
    for (int step = 0; step < 3; ++step) {
      for (const auto& [name, w] : cpu.tensors()) {
        at::Tensor grad = at::randn(w.sizes(), g).to(dtype);
        w.mutable_grad() = grad;
        gpu.tensors().at(name).mutable_grad() = grad.to(device, /*non_blocking=*/false, /*copy=*/true);
      }
      double norm_cpu = opt_cpu.clip_grad_norm(1.0), norm_gpu = opt_gpu.clip_grad_norm(1.0);
      EXPECT_NEAR(norm_gpu, norm_cpu, 1e-5 * norm_cpu);
      opt_cpu.step(1e-3);
      opt_gpu.step(1e-3);
    }
    TensorMap want = opt_cpu.state_tensors(), got = opt_gpu.state_tensors();
    // exp_avg_sq differs by ~1.5e-5 relative: the fused kernels of the two backends round (1 - beta2) g^2 apart.
    for (const auto& [name, t] : want) EXPECT_LT(relative_error(t, got.at(name)), kFp32Tolerance) << name;
    for (const auto& [name, w] : cpu.tensors())
      EXPECT_LT(relative_error(w, gpu.tensors().at(name)), tolerance(dtype)) << name << " " << c10::toString(dtype);
  }
}

}  // namespace
}  // namespace r1
