// Time of one GRPO policy update (log-probs, loss, backward over
// micro-batches, clipping, AdamW), in process and warmed up, on a batch
// shaped like a GRPO step: P prompts x G completions. Judges learner changes
// without the noise of generation and process start.
//
//   learner_bench --model DIR [--prompts 8] [--g 8] [--prompt-len 96]
//                 [--completion-len 64] [--micro-batch 8] [--beta 0]
//                 [--threads 2] [--streams 0] [--repeats 10] [--dtype float32|bfloat16]
//                 [--device cpu|cuda|cuda:N] [--peak-tflops 0] [--profile 0] [--trace F]
//
// Completion lengths are drawn between half and all of --completion-len.
// Prints the best and median seconds per update as JSON; on a GPU also the
// peak memory the caching allocator handed out during the updates, and with
// --peak-tflops the update's model FLOPs utilisation (MFU): the matrix
// products of forward and backward, 6 FLOPs per weight per token (each
// distinct prompt runs once; the LM head only over completions) plus
// attention's, over the best time, against that peak. --profile N runs one
// more update under the profiler and prints its N costliest kernels
// (bench/kernel_profile.h).
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>

#include "bench/kernel_profile.h"
#include "grpo/learner.h"
#include "model/device.h"
#include "util/malloc_tuning.h"

// Model FLOPs of one update (see the header): 2 per weight per token
// forward, 4 backward; attention 2 x 2 x heads x head_dim per (query, key)
// pair; the reference model's pass (beta != 0) is a forward only.
double update_flops(const r1::ModelConfig& c, const std::vector<r1::Sample>& batch, bool reference) {
  double embed = static_cast<double>(c.vocab_size) * c.hidden_size;
  double body = c.num_parameters() - embed * (c.tie_word_embeddings ? 1 : 2);
  double pair = 4.0 * c.num_hidden_layers * c.num_attention_heads * c.head_dim;
  double tokens = 0, head_tokens = 0, pairs = 0;
  std::set<std::vector<int64_t>> prompts;
  for (const auto& s : batch) {
    double P = static_cast<double>(s.prompt_ids.size()), C = static_cast<double>(s.token_ids.size());
    if (prompts.insert(s.prompt_ids).second) {
      tokens += P;
      pairs += P * (P + 1) / 2;
    }
    tokens += C;
    head_tokens += C;
    pairs += C * P + C * (C + 1) / 2;
  }
  double forward = 2 * (body * tokens + embed * head_tokens) + pair * pairs;
  return forward * (reference ? 4 : 3);
}

int main(int argc, char** argv) {
  r1::keep_freed_memory_for_reuse();
  std::string model_dir, dtype = "float32", device = "cpu";
  double peak_tflops = 0;
  int profile = 0;
  std::string trace;
  int64_t prompts = 8, g = 8, prompt_len = 96, completion_len = 64, micro_batch = 8;
  double beta = 0;
  int threads = 2, repeats = 10, streams = 0;
  CLI::App app{"r1 learner benchmark"};
  app.add_option("--model", model_dir, "HF model folder")->required();
  app.add_option("--prompts", prompts, "Distinct prompts per step");
  app.add_option("--g", g, "Completions per prompt (num_generations)");
  app.add_option("--prompt-len", prompt_len, "Tokens per prompt");
  app.add_option("--completion-len", completion_len, "Longest completion (max_completion_length)");
  app.add_option("--micro-batch", micro_batch, "Sequences per forward/backward");
  app.add_option("--beta", beta, "KL weight (!= 0 adds the reference model's pass)");
  app.add_option("--threads", threads, "CPU threads");
  app.add_option("--streams", streams, "Concurrent micro-batch streams (0: the learner's default)");
  app.add_option("--repeats", repeats, "Timed updates after one warm-up");
  app.add_option("--dtype", dtype, "Compute dtype")->check(CLI::IsMember({"float32", "bfloat16"}));
  app.add_option("--device", device, "cpu | cuda | cuda:N");
  app.add_option("--peak-tflops", peak_tflops,
                 "The device's dense peak in the compute dtype, for MFU (0: not reported)");
  app.add_option("--profile", profile, "Profile one more update and print its N costliest kernels (0: off)");
  app.add_option("--trace", trace, "With --profile: also write the Chrome trace here");
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  r1::LoadOptions load;
  load.device = r1::value_or_throw(r1::resolve_device(device));
  load.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  r1::Transformer reference = r1::value_or_throw(r1::Transformer::load(model_dir, load));
  load.trainable = true;
  r1::Transformer policy = r1::value_or_throw(r1::Transformer::load(model_dir, load));
  r1::AdamW optimizer(policy, {});

  std::mt19937_64 rng(0);
  std::uniform_int_distribution<int64_t> token(3, policy.config().vocab_size - 1);
  std::uniform_int_distribution<int64_t> length(std::max<int64_t>(1, completion_len / 2), completion_len);
  std::normal_distribution<double> advantage;
  std::vector<r1::Sample> batch;
  for (int64_t p = 0; p < prompts; ++p) {
    std::vector<int64_t> prompt(prompt_len);
    for (auto& t : prompt) t = token(rng);
    for (int64_t i = 0; i < g; ++i) {
      std::vector<int64_t> completion(length(rng));
      for (auto& t : completion) t = token(rng);
      batch.push_back({.prompt_ids = prompt, .token_ids = std::move(completion), .advantage = advantage(rng)});
    }
  }
  r1::LearnerOptions options;
  options.micro_batch_size = micro_batch;
  options.streams = streams;
  options.loss.beta = beta;
  options.loss.max_completion_length = completion_len;
  const bool gpu = load.device.is_cuda();
  std::vector<double> seconds;
  for (int run = 0; run <= repeats; ++run) {
    if (gpu && run == 1) c10::cuda::CUDACachingAllocator::resetPeakStats(load.device.index());
    auto start = std::chrono::steady_clock::now();
    r1::value_or_throw(r1::learner_step(policy, beta != 0 ? &reference : nullptr, optimizer, batch, options));
    if (gpu) torch::cuda::synchronize();  // the optimizer's kernels may still be queued
    if (run > 0) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  std::printf("{\"device\": \"%s\", \"dtype\": \"%s\", \"best_s\": %.4f, \"median_s\": %.4f",
              load.device.str().c_str(), dtype.c_str(), seconds.front(), seconds[seconds.size() / 2]);
  if (gpu) {
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(load.device.index());
    const auto aggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    std::printf(", \"peak_allocated_gib\": %.3f", stats.allocated_bytes[aggregate].peak / double(1 << 30));
  }
  if (peak_tflops > 0) {
    double flops = update_flops(policy.config(), batch, beta != 0);
    std::printf(", \"tflops\": %.1f, \"mfu\": %.3f", flops / seconds.front() / 1e12,
                flops / seconds.front() / (peak_tflops * 1e12));
  }
  std::printf("}\n");
  if (profile > 0) {
    r1::start_kernel_profile(gpu);
    r1::value_or_throw(r1::learner_step(policy, beta != 0 ? &reference : nullptr, optimizer, batch, options));
    if (gpu) torch::cuda::synchronize();
    r1::stop_kernel_profile(gpu, profile, trace);
  }
  return 0;
}
