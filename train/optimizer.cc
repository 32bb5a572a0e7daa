#include "train/optimizer.h"

#include <ATen/core/grad_mode.h>

#include <cmath>
#include <utility>

#include "model/transformer.h"

namespace r1 {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// No decay for biases and norms, nor for DeepSeek's e_score_correction_bias:
// a routing offset that takes no gradient, which decay alone would shrink.
bool decays_weight(const std::string& name) {
  return !ends_with(name, "bias") && name.find("norm") == std::string::npos;
}

AdamW::AdamW(const Transformer& model, AdamWOptions options) : options_(std::move(options)) {
  const size_t count = model.tensors().size();
  if (sharded() && options_.owner.size() != count)
    throw Error("AdamW: " + std::to_string(options_.owner.size()) + " tensor owners for " + std::to_string(count) +
                " tensors");
  size_t index = 0;
  for (const auto& [name, param] : model.tensors()) {
    if (!param.requires_grad()) throw Error("AdamW: tensor '" + name + "' does not require grad");
    Group& g = decays_weight(name) ? decay_ : no_decay_;
    const int owner = sharded() ? options_.owner[index++] : static_cast<int>(options_.rank);
    g.names.push_back(name);
    g.params.push_back(param);
    g.owner.push_back(owner);
    if (owner != options_.rank) {
      for (auto* v : {&g.masters, &g.exp_avg, &g.exp_avg_sq, &g.steps}) v->emplace_back();
      continue;
    }
    at::Tensor master = param.scalar_type() == at::kFloat ? param : param.detach().to(at::kFloat);
    g.masters.push_back(master);
    g.exp_avg.push_back(at::zeros_like(master, at::MemoryFormat::Contiguous));
    g.exp_avg_sq.push_back(at::zeros_like(master, at::MemoryFormat::Contiguous));
    // The fused kernel reads step counts on the weights' device.
    g.steps.push_back(at::zeros({}, master.options().dtype(at::kFloat)));
  }
}

// Gives every master an fp32 gradient: the model's own for fp32 tensors, an
// fp32 copy for others, zeros where backward produced none.
void AdamW::sync_master_grads() {
  at::NoGradGuard no_grad;
  for (Group* g : {&decay_, &no_decay_}) {
    for (size_t i = 0; i < g->params.size(); ++i) {
      if (!g->mine(i, options_.rank)) continue;
      const at::Tensor& p = g->params[i];
      at::Tensor& m = g->masters[i];
      if (m.grad().defined() && !p.is_same(m)) continue;  // already synced this step
      at::Tensor grad = p.grad().defined() ? p.grad() : at::zeros_like(m);
      if (!p.is_same(m))
        m.mutable_grad() = grad.to(at::kFloat);
      else if (!p.grad().defined())
        m.mutable_grad() = grad;
    }
  }
}

double AdamW::clip_grad_norm(double max_norm) {
  sync_master_grads();
  at::NoGradGuard no_grad;
  // Every tensor's gradient counts, in one order on every rank (sharded,
  // the ranks hold the same all-reduced gradients, so they agree on the
  // norm). Another rank's tensor's norm is taken of an fp32 copy made one
  // at a time, by the same kernel its owner uses on the same values, never
  // of copies of all of them at once: ZeRO runs where memory is short. Only
  // this rank's gradients are clipped: it steps no others.
  std::vector<at::Tensor> norms, mine;
  std::vector<size_t> mine_at;  // where each of `mine`'s norms goes in `norms`
  for (Group* g : {&decay_, &no_decay_}) {
    for (size_t i = 0; i < g->params.size(); ++i) {
      if (g->mine(i, options_.rank)) {
        mine.push_back(g->masters[i].grad());
        mine_at.push_back(norms.size());
        norms.emplace_back();
        continue;
      }
      const at::Tensor& p = g->params[i];
      norms.push_back(p.grad().defined() ? at::_foreach_norm({p.grad().to(at::kFloat)}, 2)[0]
                                         : at::zeros({}, p.options().dtype(at::kFloat)));
    }
  }
  if (norms.empty()) return 0.0;
  if (!mine.empty()) {
    std::vector<at::Tensor> mine_norms = at::_foreach_norm(mine, 2);
    for (size_t k = 0; k < mine.size(); ++k) norms[mine_at[k]] = mine_norms[k];
  }
  double norm = at::stack(norms).norm(2).item<double>();
  if (max_norm > 0) {
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0 && !mine.empty()) at::_foreach_mul_(mine, coef);
  }
  return norm;
}

void AdamW::step(double lr) {
  sync_master_grads();
  at::NoGradGuard no_grad;
  ++step_;
  for (Group* g : {&decay_, &no_decay_}) {
    std::vector<at::Tensor> masters, grads, exp_avg, exp_avg_sq, steps;
    for (size_t i = 0; i < g->params.size(); ++i) {
      if (!g->mine(i, options_.rank)) continue;
      masters.push_back(g->masters[i]);
      grads.push_back(g->masters[i].grad());
      exp_avg.push_back(g->exp_avg[i]);
      exp_avg_sq.push_back(g->exp_avg_sq[i]);
      steps.push_back(g->steps[i]);
    }
    if (masters.empty()) continue;
    double wd = g == &decay_ ? options_.weight_decay : 0.0;
    at::_foreach_add_(steps, 1.0);
    at::_fused_adamw_(masters, grads, exp_avg, exp_avg_sq, {}, steps, lr, options_.beta1, options_.beta2, wd,
                      options_.eps, /*amsgrad=*/false, /*maximize=*/false);
    for (size_t i = 0; i < g->params.size(); ++i)
      if (g->mine(i, options_.rank) && !g->params[i].is_same(g->masters[i])) g->params[i].copy_(g->masters[i]);
  }
  zero_grad();
}

void AdamW::zero_grad() {
  for (Group* g : {&decay_, &no_decay_}) {
    for (size_t i = 0; i < g->params.size(); ++i) {
      g->params[i].mutable_grad().reset();
      if (g->masters[i].defined()) g->masters[i].mutable_grad().reset();
    }
  }
}

TensorMap AdamW::state_tensors() const { return state_of(options_.rank); }

std::vector<at::Tensor> AdamW::tensors_of(int64_t rank) const {
  std::vector<at::Tensor> out;
  for (const Group* g : {&decay_, &no_decay_})
    for (size_t i = 0; i < g->params.size(); ++i)
      if (g->mine(i, rank)) out.push_back(g->params[i]);
  return out;
}

TensorMap AdamW::state_of(int64_t rank) const {
  TensorMap out;
  for (const Group* g : {&decay_, &no_decay_}) {
    for (size_t i = 0; i < g->names.size(); ++i) {
      if (!g->mine(i, rank)) continue;
      const at::Tensor& p = g->params[i];
      const bool copy = p.scalar_type() != at::kFloat;  // the master is a copy, saved apart
      if (rank != options_.rank) {
        auto buffer = [&] { return at::empty(p.sizes(), at::TensorOptions(at::kFloat).device(at::kMeta)); };
        out[g->names[i] + ".exp_avg"] = buffer();
        out[g->names[i] + ".exp_avg_sq"] = buffer();
        if (copy) out[g->names[i] + ".master"] = buffer();
        continue;
      }
      out[g->names[i] + ".exp_avg"] = g->exp_avg[i];
      out[g->names[i] + ".exp_avg_sq"] = g->exp_avg_sq[i];
      if (copy) out[g->names[i] + ".master"] = g->masters[i];
    }
  }
  return out;
}

Status AdamW::load_state(const TensorMap& state, int64_t steps_taken, const std::string& where) {
  at::NoGradGuard no_grad;
  auto restore = [&](const std::string& key, at::Tensor& dst) -> Status {
    auto it = state.find(key);
    if (it == state.end()) return Status::error(where + ": optimizer state lacks '" + key + "'");
    if (!it->second.sizes().equals(dst.sizes()))
      return Status::error(where + ": '" + key + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                           c10::str(dst.sizes()));
    dst.copy_(it->second);
    return Status();
  };
  for (Group* g : {&decay_, &no_decay_}) {
    for (size_t i = 0; i < g->names.size(); ++i) {
      if (!g->mine(i, options_.rank)) continue;
      R1_RETURN_IF_ERROR(restore(g->names[i] + ".exp_avg", g->exp_avg[i]));
      R1_RETURN_IF_ERROR(restore(g->names[i] + ".exp_avg_sq", g->exp_avg_sq[i]));
      if (!g->params[i].is_same(g->masters[i])) {
        R1_RETURN_IF_ERROR(restore(g->names[i] + ".master", g->masters[i]));
        g->params[i].copy_(g->masters[i]);
      }
      g->steps[i].fill_(static_cast<double>(steps_taken));
    }
  }
  step_ = steps_taken;
  return Status();
}

}  // namespace r1
