#include "distill/chunked_kl.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "distill/distill_loss.h"
#include "model/chunked_logprobs.h"

namespace r1 {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One chunk's log-probabilities [n, V] fp32: the two models' at the
// temperature, and the student's at temperature 1 when the cross-entropy
// needs it. Through log_softmax, which subtracts each row's largest logit
// first: logits - logsumexp would round a peaked row's log-probabilities to
// the spacing of the logits (3e-5 at 500), and the reverse KL's gradient is
// a difference of such numbers.
struct ChunkLogprobs {
  at::Tensor student, teacher, student_t1;
};

ChunkLogprobs chunk_logprobs(const variable_list& in, int64_t b, int64_t n, double temperature, bool with_ce) {
  const at::Tensor &sh = in[0], &sw = in[1], &th = in[2], &tw = in[3];
  at::Tensor raw = logit_chunks::logits(sh, sw, b, n, 1.0);
  ChunkLogprobs c;
  c.student = at::log_softmax(temperature != 1.0 ? raw / temperature : raw, -1);
  c.teacher = at::log_softmax(logit_chunks::logits(th, tw, b, n, temperature), -1);
  if (with_ce) c.student_t1 = temperature != 1.0 ? at::log_softmax(raw, -1) : c.student;
  return c;
}

// Per chunk: d loss / d logits, from p = softmax(z / T), q the teacher's:
// d KL(q||p) / dz = (p - q) / T; d KL(p||q) / dz = p (log p - log q - KL) / T;
// d ce / dz = softmax(z) - onehot(label).
at::Tensor chunk_logit_gradient(const ChunkLogprobs& c, const at::Tensor& kl, const at::Tensor& labels,
                                bool forward_kl, double temperature, const at::Tensor& kl_weight,
                                const at::Tensor& ce_weight) {
  at::Tensor p = c.student.exp();
  at::Tensor d = forward_kl ? p - c.teacher.exp()
                            : at::where(p > 0, p * (c.student - c.teacher - kl.unsqueeze(-1)), at::zeros_like(p));
  d.mul_(kl_weight / temperature);
  if (c.student_t1.defined()) {
    at::Tensor g = ce_weight.expand({labels.size(0), 1});
    d.add_(c.student_t1.exp().mul_(ce_weight).scatter_add_(-1, labels.unsqueeze(-1), -g));
  }
  return d;
}

struct ChunkedDistill : public torch::autograd::Function<ChunkedDistill> {
  // Computes the terms and, when `with_grad`, the loss's gradient; saves the
  // gradient (for an incoming gradient of 1), never the logits.
  static variable_list forward(AutogradContext* ctx, const at::Tensor& student_hidden, const at::Tensor& student_head,
                               const at::Tensor& teacher_hidden, const at::Tensor& teacher_head,
                               const at::Tensor& labels, const at::Tensor& kl_weight, const at::Tensor& ce_weight,
                               bool with_ce, int64_t direction, double temperature, int64_t chunk, bool with_grad) {
    const variable_list in = {student_hidden, student_head, teacher_hidden, teacher_head};
    const int64_t R = student_hidden.size(0);
    const auto f32 = student_hidden.options().dtype(at::kFloat);
    at::Tensor kl = at::empty({R}, f32), ce = at::zeros({R}, f32), entropy = at::empty({R}, f32);
    at::Tensor grad_hidden, grad_head;
    if (with_grad) grad_hidden = at::empty_like(student_hidden), grad_head = at::zeros_like(student_head, at::kFloat);
    const bool forward_kl = direction == static_cast<int64_t>(KlDirection::forward);
    const at::Tensor klw = kl_weight.to(at::kFloat), cew = with_ce ? ce_weight.to(at::kFloat) : at::Tensor();
    for (int64_t b = 0; b < R; b += chunk) {
      const int64_t n = std::min(chunk, R - b);
      ChunkLogprobs c = chunk_logprobs(in, b, n, temperature, with_ce);
      at::Tensor kl_rows = forward_kl ? kl_divergence(c.teacher, c.student) : kl_divergence(c.student, c.teacher);
      kl.narrow(0, b, n).copy_(kl_rows);
      entropy.narrow(0, b, n).copy_(-(c.student.exp() * c.student).sum(-1));
      at::Tensor chunk_labels = with_ce ? labels.narrow(0, b, n) : at::Tensor();
      if (with_ce) ce.narrow(0, b, n).copy_(-c.student_t1.gather(-1, chunk_labels.unsqueeze(-1)).squeeze(-1));
      if (with_grad) {
        at::Tensor d = chunk_logit_gradient(c, kl_rows, chunk_labels, forward_kl, temperature, klw, cew);
        logit_chunks::add_gradients(d, student_hidden, student_head, b, grad_head, grad_hidden);
      }
    }
    at::Tensor loss = klw * kl.sum();
    if (with_ce) loss = loss + cew * ce.sum();
    if (with_grad) ctx->save_for_backward({grad_hidden, grad_head.to(student_head.scalar_type())});
    ctx->mark_non_differentiable({kl, ce, entropy});
    return {loss, kl, ce, entropy};
  }

  // The saved gradient scaled by the incoming one, in place: the head's
  // gradient is as large as the head (545 MB at Qwen2.5-0.5B), so no copy.
  // (One backward per forward, as the trainers run it.)
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list saved = ctx->get_saved_variables();
    at::Tensor grad_hidden = saved[0], grad_head = saved[1];
    grad_hidden.mul_(grads[0].to(grad_hidden.scalar_type()));
    grad_head.mul_(grads[0].to(grad_head.scalar_type()));
    return {grad_hidden, grad_head, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

DistillLoss chunked_distill_loss(const at::Tensor& student_hidden, const at::Tensor& student_head,
                                 const at::Tensor& teacher_hidden, const at::Tensor& teacher_head,
                                 KlDirection direction, double temperature, const at::Tensor& kl_weight,
                                 const at::Tensor& labels, const at::Tensor& ce_weight, int64_t rows_per_chunk) {
  TORCH_CHECK(student_head.size(0) == teacher_head.size(0), "chunked_distill_loss: the student's vocabulary (",
              student_head.size(0), ") is not the teacher's (", teacher_head.size(0), ")");
  const int64_t R = student_hidden.size(0);
  const int64_t chunk = logit_chunks::rows_per_chunk(student_hidden, student_head.size(0), rows_per_chunk);
  const bool with_ce = labels.defined();
  const bool with_grad =
      at::GradMode::is_enabled() && (student_hidden.requires_grad() || student_head.requires_grad());
  auto f32 = student_hidden.options().dtype(at::kFloat);
  at::Tensor label_rows = with_ce ? labels.contiguous() : at::zeros({R}, f32.dtype(at::kLong));
  at::Tensor ce_w = with_ce ? ce_weight : at::zeros({}, f32);
  variable_list out = ChunkedDistill::apply(student_hidden.contiguous(), student_head, teacher_hidden.contiguous(),
                                            teacher_head, label_rows, kl_weight, ce_w, with_ce,
                                            static_cast<int64_t>(direction), temperature, chunk, with_grad);
  return {.loss = out[0], .kl = out[1], .ce = out[2], .entropy = out[3]};
}

}  // namespace r1
