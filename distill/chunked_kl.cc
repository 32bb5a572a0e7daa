#include "distill/chunked_kl.h"

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

struct ChunkedDistill : public torch::autograd::Function<ChunkedDistill> {
  // Saves the inputs and each row's KL, never the logits.
  static variable_list forward(AutogradContext* ctx, const at::Tensor& student_hidden, const at::Tensor& student_head,
                               const at::Tensor& teacher_hidden, const at::Tensor& teacher_head,
                               const at::Tensor& labels, bool with_ce, int64_t direction, double temperature,
                               int64_t chunk) {
    const variable_list in = {student_hidden, student_head, teacher_hidden, teacher_head};
    const int64_t R = student_hidden.size(0);
    const auto f32 = student_hidden.options().dtype(at::kFloat);
    at::Tensor kl = at::empty({R}, f32), ce = at::zeros({R}, f32), entropy = at::empty({R}, f32);
    const bool forward_kl = direction == static_cast<int64_t>(KlDirection::forward);
    for (int64_t b = 0; b < R; b += chunk) {
      const int64_t n = std::min(chunk, R - b);
      ChunkLogprobs c = chunk_logprobs(in, b, n, temperature, with_ce);
      kl.narrow(0, b, n).copy_(forward_kl ? kl_divergence(c.teacher, c.student) : kl_divergence(c.student, c.teacher));
      entropy.narrow(0, b, n).copy_(-(c.student.exp() * c.student).sum(-1));
      if (with_ce) ce.narrow(0, b, n).copy_(-c.student_t1.gather(-1, labels.narrow(0, b, n).unsqueeze(-1)).squeeze(-1));
    }
    ctx->save_for_backward({student_hidden, student_head, teacher_hidden, teacher_head, labels, kl});
    ctx->saved_data["with_ce"] = with_ce;
    ctx->saved_data["forward_kl"] = forward_kl;
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["chunk"] = chunk;
    ctx->mark_non_differentiable({entropy});
    return {kl, ce, entropy};
  }

  // With p = softmax(z / T), q the teacher's, per row: d KL(q||p) / dz =
  // (p - q) / T; d KL(p||q) / dz = p (log p - log q - KL) / T; d ce / dz =
  // softmax(z) - onehot(label).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list s = ctx->get_saved_variables();
    const at::Tensor &student_hidden = s[0], &student_head = s[1], &labels = s[4], &kl = s[5];
    const bool with_ce = ctx->saved_data["with_ce"].toBool(), forward_kl = ctx->saved_data["forward_kl"].toBool();
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const int64_t R = student_hidden.size(0);
    const at::Tensor g_kl = grads[0].defined() ? grads[0].to(at::kFloat) : at::zeros({R}, kl.options());
    const bool ce_grad = with_ce && grads[1].defined();
    at::Tensor grad_hidden = at::empty_like(student_hidden), grad_head = at::zeros_like(student_head, at::kFloat);
    for (int64_t b = 0; b < R; b += chunk) {
      const int64_t n = std::min(chunk, R - b);
      ChunkLogprobs c = chunk_logprobs({s[0], s[1], s[2], s[3]}, b, n, temperature, ce_grad);
      at::Tensor p = c.student.exp();
      at::Tensor d = forward_kl ? p - c.teacher.exp()
                                : at::where(p > 0, p * (c.student - c.teacher - kl.narrow(0, b, n).unsqueeze(-1)),
                                            at::zeros_like(p));
      d.mul_(g_kl.narrow(0, b, n).unsqueeze(-1));
      if (temperature != 1.0) d.div_(temperature);
      if (ce_grad) {
        at::Tensor g = grads[1].to(at::kFloat).narrow(0, b, n).unsqueeze(-1);
        d.add_(c.student_t1.exp().mul_(g).scatter_add_(-1, labels.narrow(0, b, n).unsqueeze(-1), -g));
      }
      logit_chunks::add_gradients(d, student_hidden, student_head, b, grad_head, grad_hidden);
    }
    return {grad_hidden, grad_head.to(student_head.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

DistillTerms chunked_distill_terms(const at::Tensor& student_hidden, const at::Tensor& student_head,
                                   const at::Tensor& teacher_hidden, const at::Tensor& teacher_head,
                                   KlDirection direction, double temperature, const at::Tensor& labels,
                                   int64_t rows_per_chunk) {
  TORCH_CHECK(student_head.size(0) == teacher_head.size(0), "chunked_distill_terms: the student's vocabulary (",
              student_head.size(0), ") is not the teacher's (", teacher_head.size(0), ")");
  const int64_t R = student_hidden.size(0);
  const int64_t chunk = logit_chunks::rows_per_chunk(student_hidden, student_head.size(0), rows_per_chunk);
  at::Tensor label_rows = labels.defined() ? labels.contiguous() : at::zeros({R}, student_hidden.options().dtype(at::kLong));
  variable_list out = ChunkedDistill::apply(student_hidden.contiguous(), student_head, teacher_hidden.contiguous(),
                                            teacher_head, label_rows, labels.defined(), static_cast<int64_t>(direction),
                                            temperature, chunk);
  return {.kl = out[0], .ce = out[1], .entropy = out[2]};
}

}  // namespace r1
