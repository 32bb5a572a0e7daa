#include "distill/chunked_kl.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "distill/distill_loss.h"

namespace r1 {
namespace {

struct Inputs {
  at::Tensor student_hidden, student_head, teacher_hidden, teacher_head, labels;
};

// R = 11 positions, vocabulary 13; `peaked` scales the logits up so that
// some probabilities underflow to exactly 0 (the 0 log 0 = 0 terms).
Inputs random_inputs(uint64_t seed, double peaked) {
  auto gen = at::detail::createCPUGenerator(seed);
  Inputs in;
  in.student_hidden = (at::randn({11, 8}, gen) * peaked).requires_grad_();
  in.student_head = at::randn({13, 8}, gen).requires_grad_();
  in.teacher_hidden = at::randn({11, 6}, gen) * peaked;
  in.teacher_head = at::randn({13, 6}, gen);
  in.labels = at::randint(13, {11}, gen);
  return in;
}

constexpr double kKlWeight = 0.7, kCeWeight = -0.4;

// The full computation with autograd, in `dtype`: [R, V] logits of both models.
DistillLoss full_loss(const Inputs& in, KlDirection direction, double T, bool with_ce, at::ScalarType dtype) {
  auto cast = [&](const at::Tensor& t) { return t.to(dtype); };
  at::Tensor raw = at::matmul(cast(in.student_hidden), cast(in.student_head).t());
  at::Tensor log_ps = at::log_softmax(raw / T, -1);
  at::Tensor log_pt = at::log_softmax(at::matmul(cast(in.teacher_hidden), cast(in.teacher_head).t()) / T, -1);
  DistillLoss out;
  out.kl = direction == KlDirection::forward ? kl_divergence(log_pt, log_ps) : kl_divergence(log_ps, log_pt);
  out.ce = with_ce ? at::cross_entropy_loss(raw, in.labels, {}, at::Reduction::None) : at::zeros({11}, raw.options());
  out.entropy = -(log_ps.exp() * log_ps).sum(-1).detach();
  out.loss = kKlWeight * out.kl.sum() + kCeWeight * out.ce.sum();
  return out;
}

DistillLoss chunked(const Inputs& in, KlDirection direction, double T, bool with_ce, int64_t chunk) {
  return chunked_distill_loss(in.student_hidden, in.student_head, in.teacher_hidden, in.teacher_head, direction, T,
                              at::scalar_tensor(kKlWeight), with_ce ? in.labels : at::Tensor(),
                              at::scalar_tensor(kCeWeight), chunk);
}

// The loss, the terms per position, and the gradients of 2.5 x the loss (a
// backward scales the gradient by the incoming one), in fp64.
std::vector<at::Tensor> values_and_gradients(const Inputs& in, const DistillLoss& d) {
  in.student_hidden.mutable_grad().reset();
  in.student_head.mutable_grad().reset();
  (2.5 * d.loss).backward();
  auto f64 = [](const at::Tensor& t) { return t.detach().to(at::kDouble); };
  return {f64(d.loss), f64(d.kl), f64(d.ce), f64(d.entropy), f64(in.student_hidden.grad()),
          f64(in.student_head.grad())};
}

// Against the fp64 computation, the chunked one errs no more than the full
// fp32 one does, up to a small margin. (With peaked distributions the
// gradients are tiny differences of large log-probabilities, which fp32
// resolves only to a few percent either way.)
TEST(ChunkedDistillLoss, EqualsTheFullComputationInValuesAndGradients) {
  const char* names[] = {"loss", "kl", "ce", "entropy", "grad hidden", "grad head"};
  for (KlDirection direction : {KlDirection::forward, KlDirection::reverse})
    for (double T : {1.0, 2.0, 0.7})
      for (double peaked : {1.0, 40.0})
        for (bool with_ce : {true, false})
          for (int64_t chunk : {4, 0}) {  // 4: chunks of 4, 4 and 3 rows; 0: one chunk
            Inputs in = random_inputs(17, peaked);
            auto want = values_and_gradients(in, full_loss(in, direction, T, with_ce, at::kDouble));
            auto fp32 = values_and_gradients(in, full_loss(in, direction, T, with_ce, at::kFloat));
            auto got = values_and_gradients(in, chunked(in, direction, T, with_ce, chunk));
            for (size_t i = 0; i < want.size(); ++i) {
              ASSERT_TRUE(got[i].isfinite().all().item<bool>()) << names[i];
              double scale = want[i].abs().max().item<double>();
              double full_error = (fp32[i] - want[i]).abs().max().item<double>();
              EXPECT_LE((got[i] - want[i]).abs().max().item<double>(), std::max(2 * full_error, 1e-5 * (1 + scale)))
                  << names[i] << " (full fp32 errs " << full_error << ") direction " << static_cast<int>(direction)
                  << " T " << T << " peaked " << peaked << " ce " << with_ce << " chunk " << chunk;
            }
            if (peaked > 1) {  // the 0 log 0 terms were there
              at::Tensor teacher = at::matmul(in.teacher_hidden, in.teacher_head.t()) / T;
              EXPECT_GT(at::softmax(teacher, -1).eq(0).sum().item<int64_t>(), 0);
            }
          }
}

TEST(ChunkedDistillLoss, WithoutGradTheSameTermsAndNoGraph) {
  Inputs in = random_inputs(5, 1.0);
  DistillLoss with_grad = chunked(in, KlDirection::reverse, 1.5, true, 4);
  at::NoGradGuard no_grad;
  DistillLoss without = chunked(in, KlDirection::reverse, 1.5, true, 4);
  EXPECT_FALSE(without.loss.requires_grad());
  EXPECT_TRUE(with_grad.loss.requires_grad());
  EXPECT_TRUE(at::equal(without.kl, with_grad.kl));
  EXPECT_TRUE(at::equal(without.ce, with_grad.ce));
  EXPECT_TRUE(at::allclose(without.loss, with_grad.loss.detach()));
}

TEST(ChunkedDistillLoss, AModelAgainstItselfHasNoKl) {
  Inputs in = random_inputs(5, 1.0);
  DistillLoss d = chunked_distill_loss(in.student_hidden, in.student_head, in.student_hidden.detach(),
                                       in.student_head.detach(), KlDirection::reverse, 1.5, at::scalar_tensor(1.0));
  EXPECT_LE(d.kl.abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(d.ce.eq(0).all().item<bool>());  // no labels: zeros
}

TEST(ChunkedDistillLoss, RefusesDifferentVocabularies) {
  Inputs in = random_inputs(5, 1.0);
  EXPECT_THROW(chunked_distill_loss(in.student_hidden, in.student_head, in.teacher_hidden, at::randn({12, 6}),
                                    KlDirection::forward, 1.0, at::scalar_tensor(1.0)),
               c10::Error);
}

}  // namespace
}  // namespace r1
