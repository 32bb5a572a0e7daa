#include "distill/distill_loss.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cmath>

#include "sft/sft_test_util.h"

namespace r1 {
namespace {

struct HandSums {
  double ce = 0, kl = 0;
  int64_t tokens = 0;
};

// CE and KL(teacher_T || student_T) summed over the targets of `rows`, one
// row at a time (no padding) and in double precision from the logits.
HandSums hand_distill_sums(const Transformer& student, const Transformer& teacher, const std::vector<SftRow>& rows,
                           double T) {
  at::NoGradGuard no_grad;
  HandSums out;
  for (const SftRow& row : rows) {
    SftBatch b = collate({&row});
    at::Tensor ls = student.lm_head(student.forward(b.ids, b.positions, b.allowed))[0].to(at::kDouble).contiguous();
    at::Tensor lt = teacher.lm_head(teacher.forward(b.ids, b.positions, b.allowed))[0].to(at::kDouble).contiguous();
    auto s = ls.accessor<double, 2>();
    auto t = lt.accessor<double, 2>();
    const int64_t V = ls.size(1);
    for (size_t pos = 0; pos < row.labels.size(); ++pos) {
      int64_t label = row.labels[pos];
      if (label == -100) continue;
      ++out.tokens;
      auto log_softmax = [&](auto& z, double temp) {
        double m = -1e300, sum = 0;
        for (int64_t v = 0; v < V; ++v) m = std::max(m, z[pos][v] / temp);
        for (int64_t v = 0; v < V; ++v) sum += std::exp(z[pos][v] / temp - m);
        std::vector<double> out_lp(V);
        for (int64_t v = 0; v < V; ++v) out_lp[v] = z[pos][v] / temp - m - std::log(sum);
        return out_lp;
      };
      out.ce -= log_softmax(s, 1.0)[label];
      std::vector<double> lps = log_softmax(s, T), lpt = log_softmax(t, T);
      for (int64_t v = 0; v < V; ++v) out.kl += std::exp(lpt[v]) * (lpt[v] - lps[v]);
    }
  }
  return out;
}

TEST(DistillLoss, LossSumsMatchAHandComputation) {
  // The student and teacher are of different families with one vocabulary.
  Transformer student = random_tiny(ModelFamily::llama, 50, 1), teacher = random_tiny(ModelFamily::qwen2, 50, 9);
  auto rows = toy_rows(5, 50);
  std::vector<const SftRow*> all;
  for (const auto& r : rows) all.push_back(&r);
  SftBatch batch = collate(all);  // padded rows of different lengths
  for (double T : {1.0, 2.0, 0.5}) {
    DistillLossSums sums = distill_loss_sums(student, teacher, batch, T);
    HandSums hand = hand_distill_sums(student, teacher, rows, T);
    EXPECT_EQ(hand.tokens, batch.target_tokens);
    EXPECT_NEAR(sums.ce.item<double>(), hand.ce, 1e-4 * hand.ce) << T;
    EXPECT_NEAR(sums.kl.item<double>(), hand.kl, 1e-4 * hand.kl + 1e-6) << T;
    EXPECT_GT(hand.kl, 0.0);
  }
  // A model distilled into itself has no KL.
  EXPECT_NEAR(distill_loss_sums(teacher, teacher, batch, 2.0).kl.item<double>(), 0.0, 1e-5);
}

TEST(DistillLoss, StepLossCombinesCeAndKlAndItsGradientReducesKl) {
  Transformer student = trainable_tiny(4), teacher = random_tiny(ModelFamily::qwen2, 50, 9);
  auto rows = toy_rows(6, 50);
  std::vector<SftBatch> batches = {collate({&rows[0], &rows[1], &rows[2]}), collate({&rows[3], &rows[4], &rows[5]})};
  const double T = 2.0;
  auto kl_now = [&] {
    at::NoGradGuard no_grad;
    double kl = 0;
    for (const auto& b : batches) kl += distill_loss_sums(student, teacher, b, T).kl.item<double>();
    return kl;
  };
  for (const auto& [n, t] : student.tensors()) t.mutable_grad().reset();
  DistillStepLoss half = value_or_throw(accumulate_distill_gradients(student, batches, {&teacher, 0.5, T}));
  EXPECT_NEAR(half.loss, 0.5 * half.ce + 0.5 * T * T * half.kl, 1e-6);
  // alpha = 1 is pure KL: each small step down its gradient lowers the KL.
  double kl = kl_now();
  for (int step = 0; step < 3; ++step) {
    for (const auto& [n, t] : student.tensors()) t.mutable_grad().reset();
    DistillStepLoss d = value_or_throw(accumulate_distill_gradients(student, batches, {&teacher, 1.0, T}));
    EXPECT_NEAR(d.loss, T * T * d.kl, 1e-6);
    {
      at::NoGradGuard no_grad;
      for (const auto& [n, t] : student.tensors()) t.sub_(t.grad(), 0.05);
    }
    double next = kl_now();
    EXPECT_LT(next, kl) << "step " << step;
    kl = next;
  }
}

}  // namespace
}  // namespace r1
