#include "train/zero.h"

#include <ATen/core/grad_mode.h>

#include <utility>

#include "train/micro_batches.h"

namespace r1 {

std::vector<int> zero_owners(const Transformer& model, int64_t ranks) {
  std::vector<int64_t> sizes;
  for (const auto& [name, tensor] : model.tensors()) sizes.push_back(tensor.numel());
  return balanced_owners(sizes, static_cast<int>(ranks));
}

AdamWOptions with_zero_stage(AdamWOptions options, int64_t zero_stage, const Transformer& model,
                             const ProcessGroup* group) {
  if (zero_stage != 1 || !group) return options;
  options.owner = zero_owners(model, group->world_size());
  options.rank = group->rank();
  return options;
}

Status step_optimizer(AdamW& optimizer, double lr, ProcessGroup* group) {
  if (optimizer.sharded() && !group) return Status::error("a sharded optimizer (zero_stage 1) needs its process group");
  optimizer.step(lr);
  if (!optimizer.sharded()) return Status();
  at::NoGradGuard no_grad;  // the weights are leaves that require grad: written in place
  for (int64_t rank = 0; rank < group->world_size(); ++rank) {
    std::vector<at::Tensor> tensors = optimizer.tensors_of(rank);
    if (!tensors.empty()) R1_RETURN_IF_ERROR(group->broadcast(tensors, rank));
  }
  return Status();
}

Result<OptimizerCheckpoint> checkpoint_optimizer_state(ProcessGroup* group, const AdamW& optimizer) {
  if (!optimizer.sharded()) return OptimizerCheckpoint{optimizer.state_tensors(), optimizer.steps_taken()};
  if (!group) return Status::error("a sharded optimizer's checkpoint needs its process group");
  TensorMap whole = optimizer.state_tensors();
  const std::vector<at::Tensor> mine = optimizer.tensors_of(group->rank());
  const at::Device device = mine.empty() ? at::Device(at::kCPU) : mine.front().device();  // where the model is
  for (int64_t rank = 1; rank < group->world_size(); ++rank) {
    // One tensor at a time, sent to rank 0 alone, each received one copied
    // to the host at once: the device holds at most one more tensor's
    // worth, never a whole share.
    for (const auto& [name, tensor] : optimizer.state_of(rank)) {  // std::map: one order on every rank
      std::vector<at::Tensor> one;
      if (group->rank() == rank) one = {tensor.contiguous()};
      if (group->rank() == 0) one = {at::empty(tensor.sizes(), at::TensorOptions(at::kFloat).device(device))};
      R1_RETURN_IF_ERROR(group->send_to_root(one, rank));
      if (group->rank() == 0) whole[name] = one[0].to(at::kCPU);
    }
  }
  return OptimizerCheckpoint{std::move(whole), optimizer.steps_taken()};
}

}  // namespace r1
