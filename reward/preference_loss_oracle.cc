// preference_loss_oracle IN OUT: preference_pair_losses on tensors read from
// the safetensors file IN (chosen, rejected [N], optional margin [N]; string
// metadata center_rewards_coefficient), writing to OUT the loss (their
// mean, as TRL's RewardTrainer takes it) and its gradients grad_chosen and
// grad_rejected, for tests/python/test_preference_loss_parity.py.
#include <cstdio>
#include <cstdlib>

#include "model/safetensors.h"
#include "reward/preference_loss.h"

namespace r1 {
namespace {

Result<TensorMap> run(const SafetensorsFile& in) {
  for (const char* name : {"chosen", "rejected"})
    if (!in.tensors.count(name)) return Status::error(std::string("tensor '") + name + "' is missing");
  at::Tensor chosen = in.tensors.at("chosen").clone().set_requires_grad(true);
  at::Tensor rejected = in.tensors.at("rejected").clone().set_requires_grad(true);
  at::Tensor margin = in.tensors.count("margin") ? in.tensors.at("margin") : at::Tensor();
  PreferenceLossOptions options;
  auto it = in.metadata.find("center_rewards_coefficient");
  if (it != in.metadata.end()) options.center_rewards_coefficient = std::strtod(it->second.c_str(), nullptr);
  at::Tensor loss = preference_pair_losses(chosen, rejected, margin, options).mean();
  loss.backward();
  return TensorMap{{"loss", loss.detach()}, {"grad_chosen", chosen.grad()}, {"grad_rejected", rejected.grad()}};
}

}  // namespace
}  // namespace r1

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: preference_loss_oracle IN.safetensors OUT.safetensors\n");
    return 2;
  }
  auto in = r1::load_safetensors(argv[1]);
  if (!in.ok()) {
    std::fprintf(stderr, "preference_loss_oracle: %s\n", in.status().message().c_str());
    return 1;
  }
  auto out = r1::run(*in);
  r1::Status saved = out.ok() ? r1::save_safetensors(argv[2], *out) : out.status();
  if (!saved.ok()) {
    std::fprintf(stderr, "preference_loss_oracle: %s\n", saved.message().c_str());
    return 1;
  }
  return 0;
}
