#include "model/activation_checkpoint.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <memory>

namespace r1 {

namespace {

struct FnHolder : torch::CustomClassHolder {
  explicit FnHolder(CheckpointedFn f, int64_t n) : fn(std::move(f)), activations(n) {}
  CheckpointedFn fn;
  int64_t activations;  // the first inputs; the rest are weights
};

struct Checkpoint : public torch::autograd::Function<Checkpoint> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, at::TensorList inputs,
                                                c10::intrusive_ptr<FnHolder> holder) {
    std::vector<at::Tensor> activations(inputs.begin(), inputs.begin() + holder->activations);
    std::vector<at::Tensor> outputs;
    {
      at::NoGradGuard no_grad;
      outputs = holder->fn(activations);
    }
    ctx->save_for_backward(inputs.vec());
    ctx->saved_data["fn"] = c10::IValue::make_capsule(holder);
    for (const at::Tensor& out : outputs)
      if (!at::isFloatingType(out.scalar_type())) ctx->mark_non_differentiable({out});
    return outputs;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto holder = c10::static_intrusive_pointer_cast<FnHolder>(ctx->saved_data["fn"].toCapsule());
    std::vector<at::Tensor> inputs = ctx->get_saved_variables();
    // Fresh leaves for the activations; the weights are differentiated as they are.
    std::vector<at::Tensor> activations;
    for (int64_t i = 0; i < holder->activations; ++i) {
      const at::Tensor& a = inputs[i];
      activations.push_back(a.defined() ? a.detach().requires_grad_(a.requires_grad()) : a);
    }
    std::vector<at::Tensor> outputs;
    {
      at::AutoGradMode grad(true);
      outputs = holder->fn(activations);
    }
    std::vector<at::Tensor> wrt, roots, root_grads;
    std::vector<size_t> wrt_index;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const at::Tensor& x = i < activations.size() ? activations[i] : inputs[i];
      if (x.defined() && x.requires_grad()) wrt.push_back(x), wrt_index.push_back(i);
    }
    for (size_t o = 0; o < outputs.size(); ++o)
      if (grads[o].defined() && outputs[o].requires_grad()) roots.push_back(outputs[o]), root_grads.push_back(grads[o]);
    torch::autograd::variable_list result(inputs.size() + 1);  // + the holder argument's (none)
    if (wrt.empty() || roots.empty()) return result;
    auto input_grads = torch::autograd::grad(roots, wrt, root_grads, /*retain_graph=*/false, /*create_graph=*/false,
                                             /*allow_unused=*/true);
    for (size_t j = 0; j < wrt.size(); ++j) result[wrt_index[j]] = input_grads[j];
    return result;
  }
};

}  // namespace

std::vector<at::Tensor> checkpointed(CheckpointedFn fn, const std::vector<at::Tensor>& activations,
                                     const std::vector<at::Tensor>& weights) {
  std::vector<at::Tensor> inputs = activations;
  inputs.insert(inputs.end(), weights.begin(), weights.end());
  auto holder = c10::make_intrusive<FnHolder>(std::move(fn), static_cast<int64_t>(activations.size()));
  return Checkpoint::apply(at::TensorList(inputs), holder);
}

}  // namespace r1
