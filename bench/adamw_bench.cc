// Times one AdamW update over a model's weights: at::_fused_adamw_ (our
// train/optimizer) vs torch::optim::AdamW (a loop of per-tensor ops).
#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>
#include <torch/optim/adamw.h>

#include <chrono>
#include <cstdio>

#include "model/model_presets.h"
#include "model/transformer.h"
#include "train/optimizer.h"

namespace {

double seconds_per_step(int steps, const std::function<void()>& step) {
  step();  // warm-up: allocates state
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
}

void fill_grads(const r1::Transformer& m) {
  for (const auto& [n, t] : m.tensors()) t.mutable_grad() = at::randn_like(t) * 1e-3;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"AdamW step time: fused vs torch::optim::AdamW"};
  std::string preset = "medium";
  int64_t vocab = 8192;
  int steps = 10;
  app.add_option("--preset", preset)->capture_default_str();
  app.add_option("--vocab", vocab)->capture_default_str();
  app.add_option("--steps", steps)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  r1::ModelConfig c = r1::value_or_throw(r1::preset_config(r1::ModelFamily::qwen2, preset));
  c.vocab_size = vocab;
  r1::Transformer m = r1::Transformer::random(c, 1);
  int64_t n = 0;
  for (const auto& [name, t] : m.tensors()) {
    t.set_requires_grad(true);
    n += t.numel();
  }
  std::printf("model %s vocab %lld: %.1fM parameters, %d threads\n", preset.c_str(), (long long)vocab, n / 1e6,
              at::get_num_threads());
  r1::AdamWOptions o;
  o.weight_decay = 0.1;
  r1::AdamW fused(m, o);
  double t_fused = seconds_per_step(steps, [&] {
    fill_grads(m);
    fused.step(1e-4);
  });
  torch::optim::AdamW loop(m.parameters(), torch::optim::AdamWOptions(1e-4).weight_decay(0.1));
  double t_loop = seconds_per_step(steps, [&] {
    fill_grads(m);
    loop.step();
  });
  double t_grads = seconds_per_step(steps, [&] { fill_grads(m); });
  std::printf("fused _fused_adamw_   %.1f ms/step\n", (t_fused - t_grads) * 1e3);
  std::printf("torch::optim::AdamW   %.1f ms/step\n", (t_loop - t_grads) * 1e3);
  return 0;
}
