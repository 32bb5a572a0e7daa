#include "distill/chunked_kl.h"

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

// The full computation with autograd, in `dtype`: [R, V] logits of both models.
DistillTerms full_terms(const Inputs& in, KlDirection direction, double T, at::ScalarType dtype) {
  auto cast = [&](const at::Tensor& t) { return t.to(dtype); };
  at::Tensor raw = at::matmul(cast(in.student_hidden), cast(in.student_head).t());
  at::Tensor log_ps = at::log_softmax(raw / T, -1);
  at::Tensor log_pt = at::log_softmax(at::matmul(cast(in.teacher_hidden), cast(in.teacher_head).t()) / T, -1);
  DistillTerms out;
  out.kl = direction == KlDirection::forward ? kl_divergence(log_pt, log_ps) : kl_divergence(log_ps, log_pt);
  out.ce = at::cross_entropy_loss(raw, in.labels, {}, at::Reduction::None);
  out.entropy = -(log_ps.exp() * log_ps).sum(-1).detach();
  return out;
}

// Values of kl, ce and entropy, and the gradients of a loss weighing every
// position's terms differently.
std::vector<at::Tensor> values_and_gradients(const Inputs& in, const DistillTerms& t, bool with_ce) {
  in.student_hidden.mutable_grad().reset();
  in.student_head.mutable_grad().reset();
  at::Tensor loss = (t.kl * at::linspace(-1.0, 2.0, 11, t.kl.options())).sum();
  if (with_ce) loss = loss + (t.ce * at::linspace(0.5, -0.7, 11, t.ce.options())).sum();
  loss.backward();
  return {t.kl.detach().to(at::kDouble), with_ce ? t.ce.detach().to(at::kDouble) : at::zeros({11}, at::kDouble),
          t.entropy.to(at::kDouble), in.student_hidden.grad().to(at::kDouble), in.student_head.grad().to(at::kDouble)};
}

// Against the fp64 computation, the chunked one errs no more than the full
// fp32 one does, up to a small margin. (With peaked distributions the
// gradients are tiny differences of large log-probabilities, which fp32
// resolves only to a few percent either way.)
TEST(ChunkedDistillTerms, EqualTheFullComputationInValuesAndGradients) {
  const char* names[] = {"kl", "ce", "entropy", "grad hidden", "grad head"};
  for (KlDirection direction : {KlDirection::forward, KlDirection::reverse})
    for (double T : {1.0, 2.0, 0.7})
      for (double peaked : {1.0, 40.0})
        for (bool with_ce : {true, false})
          for (int64_t chunk : {4, 0}) {  // 4: chunks of 4, 4 and 3 rows; 0: one chunk
            Inputs in = random_inputs(17, peaked);
            std::vector<at::Tensor> want = values_and_gradients(in, full_terms(in, direction, T, at::kDouble), with_ce);
            std::vector<at::Tensor> fp32 = values_and_gradients(in, full_terms(in, direction, T, at::kFloat), with_ce);
            DistillTerms got_terms =
                chunked_distill_terms(in.student_hidden, in.student_head, in.teacher_hidden, in.teacher_head,
                                      direction, T, with_ce ? in.labels : at::Tensor(), chunk);
            std::vector<at::Tensor> got = values_and_gradients(in, got_terms, with_ce);
            for (size_t i = 0; i < want.size(); ++i) {
              ASSERT_TRUE(got[i].isfinite().all().item<bool>()) << names[i];
              double scale = want[i].abs().max().item<double>();
              double full_error = (fp32[i] - want[i]).abs().max().item<double>();
              EXPECT_LE((got[i] - want[i]).abs().max().item<double>(), std::max(2 * full_error, 1e-5 * (1 + scale)))
                  << names[i] << " (full fp32 errs " << full_error << ") direction " << static_cast<int>(direction) << " T " << T << " peaked " << peaked
                  << " ce " << with_ce << " chunk " << chunk;
            }
            if (peaked > 1) {  // the 0 log 0 terms were there
              at::Tensor teacher = at::matmul(in.teacher_hidden, in.teacher_head.t()) / T;
              EXPECT_GT(at::softmax(teacher, -1).eq(0).sum().item<int64_t>(), 0);
            }
          }
}

TEST(ChunkedDistillTerms, AModelAgainstItselfHasNoKl) {
  Inputs in = random_inputs(5, 1.0);
  DistillTerms t = chunked_distill_terms(in.student_hidden, in.student_head, in.student_hidden.detach(),
                                         in.student_head.detach(), KlDirection::reverse, 1.5);
  EXPECT_LE(t.kl.abs().max().item<double>(), 1e-6);
  EXPECT_TRUE(t.ce.eq(0).all().item<bool>());  // no labels: zeros
}

TEST(ChunkedDistillTerms, RefusesDifferentVocabularies) {
  Inputs in = random_inputs(5, 1.0);
  EXPECT_THROW(chunked_distill_terms(in.student_hidden, in.student_head, in.teacher_hidden,
                                     at::randn({12, 6}), KlDirection::forward, 1.0),
               c10::Error);
}

}  // namespace
}  // namespace r1
