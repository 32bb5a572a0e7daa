// Generation throughput of the model core, in process and warmed up, so the
// numbers exclude process start and first-call library initialisation.
//
//   generate_bench --model DIR [--batch 16] [--prompt-len 64] [--new-tokens 128]
//                  [--threads 2] [--repeats 3] [--num-samples 1] [--dtype float32|bfloat16]
//                  [--decode-streams 0] [--device cpu|cuda|cuda:N] [--bandwidth-gbs 0]
//                  [--cuda-graphs 1] [--profile 0] [--trace F]
//
// Prints the best-of-repeats prefill and decode tokens/s as JSON, with the
// KV cache's bytes per token (all layers; for DeepSeek's latent attention the
// compressed cache) and the parameters a token runs through (MoE: the routed
// experts it is not sent to left out). With --bandwidth-gbs (the memory's
// measured bytes/s, in GB/s), also the decode roofline: each step reads every
// weight it uses once and each row's filled cache, so
// tokens/s <= rows x bandwidth / bytes read per step, at the mean context.
// --profile N runs one more generation under the profiler and prints its N
// costliest kernels (bench/kernel_profile.h).
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>

#include "bench/kernel_profile.h"
#include "model/device.h"
#include "model/generate.h"
#include "util/malloc_tuning.h"

int main(int argc, char** argv) {
  r1::keep_freed_memory_for_reuse();
  std::string model_dir;
  int64_t batch = 16, prompt_len = 64, new_tokens = 128, num_samples = 1;
  int threads = 2, repeats = 3, decode_streams = 0;
  std::string dtype = "float32", device = "cpu";
  double bandwidth_gbs = 0;
  bool cuda_graphs = true;
  int profile = 0;
  std::string trace;
  CLI::App app{"r1 generation benchmark"};
  app.add_option("--model", model_dir, "HF model folder")->required();
  app.add_option("--batch", batch, "Distinct prompts");
  app.add_option("--prompt-len", prompt_len, "Tokens per prompt");
  app.add_option("--new-tokens", new_tokens, "Tokens generated per row");
  app.add_option("--num-samples", num_samples, "Samples per prompt (GRPO's G)");
  app.add_option("--threads", threads, "CPU threads");
  app.add_option("--decode-streams", decode_streams, "Concurrent decode streams (0 = the default)");
  app.add_option("--repeats", repeats, "Timed runs after one warm-up; the best is reported");
  app.add_option("--dtype", dtype, "Compute dtype")->check(CLI::IsMember({"float32", "bfloat16"}));
  app.add_option("--device", device, "cpu | cuda | cuda:N");
  app.add_option("--cuda-graphs", cuda_graphs, "Decode steps as CUDA graphs on a GPU (1) or eager (0)");
  app.add_option("--profile", profile, "Profile one more generation and print its N costliest kernels (0: off)");
  app.add_option("--trace", trace, "With --profile: also write the Chrome trace here");
  app.add_option("--bandwidth-gbs", bandwidth_gbs, "Memory bandwidth for the decode roofline (0: not reported)");
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  r1::LoadOptions load;
  load.device = r1::value_or_throw(r1::resolve_device(device));
  load.dtype = dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  r1::Transformer model = r1::value_or_throw(r1::Transformer::load(model_dir, load));

  at::Generator gen = at::detail::createCPUGenerator(0);
  at::Tensor ids = at::randint(3, model.config().vocab_size, {batch, prompt_len}, gen, at::kLong);
  std::vector<r1::RolloutPrompt> prompts;
  for (int64_t b = 0; b < batch; ++b)
    prompts.push_back({b, std::vector<int64_t>(ids[b].data_ptr<int64_t>(), ids[b].data_ptr<int64_t>() + prompt_len)});
  r1::GenerationOptions options;
  options.max_new_tokens = new_tokens;
  options.num_samples = num_samples;
  options.decode_streams = decode_streams;
  options.cuda_graphs = cuda_graphs;
  options.stop_token_ids = {};
  double best_prefill = 0, best_decode = 0;
  int64_t graph_steps = 0;
  for (int run = 0; run <= repeats; ++run) {
    r1::GenerationStats stats;
    options.seed = static_cast<uint64_t>(run);
    r1::value_or_throw(r1::generate(model, prompts, options, &stats));
    if (run == 0) continue;  // warm-up
    graph_steps = stats.graph_steps;
    best_prefill = std::max(best_prefill, stats.prefill_tokens / stats.prefill_seconds);
    best_decode = std::max(best_decode, stats.decode_tokens / stats.decode_seconds);
  }
  r1::KVCache one = model.new_cache(1, 1);
  int64_t kv_bytes = 0;
  for (size_t i = 0; i < one.k.size(); ++i) kv_bytes += one.k[i].nbytes() + one.v[i].nbytes();
  const r1::ModelConfig& c = model.config();
  int64_t idle_experts = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    if (c.moe.moe_layer(i)) idle_experts += c.moe.n_routed_experts - c.moe.num_experts_per_tok;
  int64_t active = c.num_parameters() - idle_experts * 3 * c.hidden_size * c.moe.moe_intermediate_size;
  // A step reads the weights a token runs through (the untied embedding only
  // by the rows it looks up) and each row's cache up to its position.
  double element = static_cast<double>(c10::elementSize(load.dtype));
  double weight_bytes = element * (active - (c.tie_word_embeddings ? 0 : c.vocab_size * c.hidden_size));
  double rows = static_cast<double>(batch * num_samples), context = prompt_len + new_tokens / 2.0;
  double roofline = rows * bandwidth_gbs * 1e9 / (weight_bytes + rows * context * kv_bytes);
  std::printf("{\"device\": \"%s\", \"dtype\": \"%s\", \"rows\": %lld, \"graph_steps\": %lld, "
              "\"prefill_tokens_per_s\": %.1f, "
              "\"decode_tokens_per_s\": %.1f, \"kv_bytes_per_token\": %lld, \"parameters\": %lld, "
              "\"active_parameters\": %lld",
              load.device.str().c_str(), dtype.c_str(), static_cast<long long>(rows),
              static_cast<long long>(graph_steps), best_prefill, best_decode,
              static_cast<long long>(kv_bytes), static_cast<long long>(c.num_parameters()),
              static_cast<long long>(active));
  if (bandwidth_gbs > 0)
    std::printf(", \"roofline_tokens_per_s\": %.1f, \"of_roofline\": %.3f", roofline, best_decode / roofline);
  std::printf("}\n");
  if (profile > 0) {
    r1::start_kernel_profile(load.device.is_cuda());
    r1::value_or_throw(r1::generate(model, prompts, options));
    r1::stop_kernel_profile(load.device.is_cuda(), profile, trace);
  }
  return 0;
}
