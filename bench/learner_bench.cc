// Time of one GRPO policy update (log-probs, loss, backward over
// micro-batches, clipping, AdamW), in process and warmed up, on a batch
// shaped like a GRPO step: P prompts x G completions. Judges learner changes
// without the noise of generation and process start.
//
//   learner_bench --model DIR [--prompts 8] [--g 8] [--prompt-len 96]
//                 [--completion-len 64] [--micro-batch 8] [--beta 0]
//                 [--threads 2] [--streams 0] [--repeats 10] [--dtype float32|bfloat16]
//
// Completion lengths are drawn between half and all of --completion-len.
// Prints the best and median seconds per update as JSON.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "grpo/learner.h"
#include "util/malloc_tuning.h"

int main(int argc, char** argv) {
  r1::keep_freed_memory_for_reuse();
  std::string model_dir, dtype = "float32";
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
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  r1::LoadOptions load;
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
  std::vector<double> seconds;
  for (int run = 0; run <= repeats; ++run) {
    auto start = std::chrono::steady_clock::now();
    r1::value_or_throw(r1::learner_step(policy, beta != 0 ? &reference : nullptr, optimizer, batch, options));
    if (run > 0) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  std::printf("{\"best_s\": %.4f, \"median_s\": %.4f}\n", seconds.front(), seconds[seconds.size() / 2]);
  return 0;
}
