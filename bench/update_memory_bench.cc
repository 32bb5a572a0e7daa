// Peak memory of one GRPO policy update above the weights, gradients and
// optimizer state, on a Qwen2.5-0.5B-shaped model (random weights, its
// 151,936-token vocabulary) in fp32: one prompt, G completions of
// --completion-len tokens, one micro-batch. With --teacher, an on-policy
// distillation update instead, against a second random model of that shape
// (whose weights count in the base).
//
//   update_memory_bench --mode full-logits|chunked|checkpointed
//                       [--prompt-len 64] [--completion-len 1024] [--g 2]
//                       [--layers 24] [--threads 2] [--teacher]
//
// Modes:
//   full-logits   what the learner did before chunked log-probs: the
//                 completions' [tokens x vocab] fp32 logits and their
//                 log-softmax, kept for the backward; no checkpointing
//                 (with --teacher: both models' log-softmax and the reverse
//                 KL over them, as before distill/chunked_kl.h)
//   chunked       the learner (log-probs from hidden states in chunks)
//   checkpointed  the learner with gradient_checkpointing
//
// Large blocks are given back to the kernel when freed (a fixed mmap
// threshold), so the resident set follows the live tensors rather than the
// heap's history, the same way in every mode.
//
// The process first runs a one-token update (AdamW's state), then fills
// every gradient; that resident set is the base. It resets the kernel's
// peak (VmHWM, /proc/self/clear_refs), runs the update and prints JSON:
// base and peak-above-base GiB, and the update's seconds. Run each mode in
// its own process: a freed heap stays resident.
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <random>
#include <string>

#include "distill/distill_loss.h"
#include "grpo/learner.h"
#include "model/model_presets.h"
#include "model/scoring.h"

namespace {

// kB of a /proc/self/status field (VmRSS, VmHWM).
double status_gib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, field.size() + 1, field + ":") == 0)
      return std::stod(line.substr(field.size() + 1)) / (1 << 20);
  return 0;
}

// fp32 log-softmax [G, C, vocab] of the completions' full logits, and the
// completions' tokens [G, C].
std::pair<at::Tensor, at::Tensor> full_log_softmax(const r1::Transformer& model, const std::vector<r1::Sample>& batch) {
  std::vector<std::vector<int64_t>> sequences;
  for (const r1::Sample& s : batch) {
    std::vector<int64_t> seq = s.prompt_ids;
    seq.insert(seq.end(), s.token_ids.begin(), s.token_ids.end());
    sequences.push_back(seq);
  }
  r1::TokenBatch tokens = r1::make_token_batch(sequences);
  int64_t P = static_cast<int64_t>(batch[0].prompt_ids.size()), C = static_cast<int64_t>(batch[0].token_ids.size());
  at::Tensor hidden = r1::batch_hidden(model, tokens).narrow(1, P - 1, C);
  return {model.lm_head(hidden).to(at::kFloat).log_softmax(-1), tokens.ids.narrow(1, P, C)};
}

// The pre-chunking learner's loss: log-softmax over full fp32 logits, kept
// for the backward (on-policy dapo: -A * log p over the tokens, the
// gradient of the clipped surrogate at ratio 1; with a teacher, the reverse
// KL over both models' full log-softmax).
void full_logits_update(const r1::Transformer& policy, const r1::Transformer* teacher,
                        const std::vector<r1::Sample>& batch) {
  auto [logp, ids] = full_log_softmax(policy, batch);
  if (teacher) {
    at::Tensor log_teacher;
    {
      at::NoGradGuard no_grad;
      log_teacher = full_log_softmax(*teacher, batch).first;
    }
    at::Tensor kl = r1::kl_divergence(logp, log_teacher);  // [G, C]
    (kl.sum() / kl.numel()).backward();
    return;
  }
  at::Tensor taken = logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1);  // [G, C]
  at::Tensor advantages = at::empty({static_cast<int64_t>(batch.size()), 1});
  for (size_t i = 0; i < batch.size(); ++i) advantages[i][0] = batch[i].advantage;
  (-(taken * advantages).sum() / taken.numel()).backward();
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "checkpointed";
  int64_t prompt_len = 64, completion_len = 1024, g = 2, layers = 24;
  int threads = 2;
  bool with_teacher = false;
  CLI::App app{"peak memory of one GRPO update"};
  app.add_option("--mode", mode, "full-logits | chunked | checkpointed")
      ->check(CLI::IsMember({"full-logits", "chunked", "checkpointed"}));
  app.add_option("--prompt-len", prompt_len, "Prompt tokens");
  app.add_option("--completion-len", completion_len, "Tokens per completion");
  app.add_option("--g", g, "Completions of the prompt");
  app.add_option("--layers", layers, "Decoder layers (24 = Qwen2.5-0.5B)");
  app.add_option("--threads", threads, "CPU threads");
  app.add_flag("--teacher", with_teacher, "An on-policy distillation update against a second random model");
  CLI11_PARSE(app, argc, argv);
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
  at::set_num_threads(threads);

  r1::ModelConfig config = r1::value_or_throw(r1::preset_config(r1::ModelFamily::qwen2, "qwen2.5-0.5b"));
  config.vocab_size = 151936;
  config.num_hidden_layers = layers;
  r1::Transformer policy = r1::Transformer::random(config, 1);
  for (auto& t : policy.parameters()) t.set_requires_grad(true);
  policy.set_gradient_checkpointing(mode == "checkpointed");
  std::optional<r1::Transformer> teacher;
  if (with_teacher) teacher = r1::Transformer::random(config, 2);
  r1::AdamW optimizer(policy, {});
  r1::LearnerOptions options;
  options.streams = 1;  // gradients accumulate in .grad: no per-stream copies
  options.micro_batch_size = g;
  options.loss.max_completion_length = completion_len;
  options.teacher = teacher ? &*teacher : nullptr;
  // AdamW's state, then every gradient: the base the update is counted above.
  r1::value_or_throw(
      r1::learner_step(policy, nullptr, optimizer, {{.prompt_ids = {5}, .token_ids = {6}, .advantage = 1}}, options));
  for (auto& t : policy.parameters()) t.mutable_grad() = at::zeros_like(t);

  std::mt19937_64 rng(0);
  std::uniform_int_distribution<int64_t> token(3, config.vocab_size - 1);
  std::vector<int64_t> prompt(prompt_len);
  for (auto& t : prompt) t = token(rng);
  std::vector<r1::Sample> batch;
  for (int64_t i = 0; i < g; ++i) {
    std::vector<int64_t> completion(completion_len);
    for (auto& t : completion) t = token(rng);
    batch.push_back({.prompt_ids = prompt, .token_ids = std::move(completion), .advantage = i % 2 ? 1.0 : -1.0});
  }

  double base = status_gib("VmRSS");
  std::ofstream("/proc/self/clear_refs") << "5";  // VmHWM := VmRSS
  auto start = std::chrono::steady_clock::now();
  if (mode == "full-logits") {
    full_logits_update(policy, options.teacher, batch);
  } else {
    r1::value_or_throw(r1::accumulate_policy_gradients(policy, nullptr, batch, options));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double peak = status_gib("VmHWM");
  std::printf("{\"mode\": \"%s\", \"teacher\": %s, \"layers\": %lld, \"tokens\": %lld, \"base_gib\": %.3f, "
              "\"peak_above_base_gib\": %.3f, \"seconds\": %.1f}\n",
              mode.c_str(), with_teacher ? "true" : "false", static_cast<long long>(layers),
              static_cast<long long>(g * (prompt_len + completion_len)),
              base, peak - base, seconds);
  return 0;
}
