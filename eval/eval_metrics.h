// The evaluation metrics as pure functions of per-sample outcomes, so they
// can be checked by hand: pass@1 averaged over k samples, the unbiased
// pass@k estimator, and majority voting (maj@k, a.k.a. cons@k). See
// docs/eval.md for the definitions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

// One sample of one example: the final answer it gave (normalised voting
// key; nullopt when it gave none) and whether it was judged correct.
struct SampleOutcome {
  std::optional<std::string> answer;
  bool correct = false;
};

// Unbiased pass@k of Chen et al. (2021) for n samples of which c are
// correct: 1 - C(n-c, k) / C(n, k), computed as a stable product. Requires
// 0 <= c <= n and 1 <= k <= n.
double pass_at_k(int64_t n, int64_t c, int64_t k);

struct Vote {
  std::optional<std::string> answer;  // nullopt when no sample gave an answer
  int64_t count = 0;                  // samples that gave it
  bool correct = false;
};

// Majority vote over the samples' answers; samples without one do not vote.
// Ties go to the answer that appeared first (lowest sample index). The vote
// is correct when the first sample that gave the winning answer is correct:
// the answer is graded once, as if it were the only response.
Vote majority_vote(const std::vector<SampleOutcome>& samples);

struct EvalMetrics {
  int64_t examples = 0;
  int64_t k = 0;                   // samples per example
  double pass_at_1 = 0.0;          // mean over examples of correct / k
  double pass_at_k = 0.0;          // mean over examples of the unbiased estimator at k
  std::optional<double> maj_at_k;  // mean vote correctness; nullopt when not voting
};

// Every example must have the same number of samples k >= 1 (else an
// error). `voting` is false for checkers that give no answer to vote on (code).
Result<EvalMetrics> compute_metrics(const std::vector<std::vector<SampleOutcome>>& examples, bool voting);

// The voting key of an extracted answer: maths normalisation (spacing,
// \text{}, dollar signs, thousands separators, ...) then all whitespace
// removed; nullopt for an empty answer.
std::optional<std::string> answer_key(std::string_view answer);

// The final answer a checker saw, from its details JSON: "extracted" (math,
// gsm8k) or "equation" (countdown), normalised by answer_key. `has_answer_field`
// says whether the details carry such a field at all (null counts), i.e.
// whether this checker's samples can be voted on.
std::optional<std::string> answer_from_details(const std::string& details_json, bool* has_answer_field);

}  // namespace r1
