// Rollout workers turn a RolloutRequest into a RolloutResult. Every job that
// samples (`r1 rl`, `r1 eval`, `r1 sample`, `r1 generate`) goes through this
// interface and sample_and_score() (rollout/sample_and_score.h), so stop
// ids, stop strings, min_p, top-k/top-p and finish reasons behave the same
// in each. LocalRolloutWorker samples in this process with the model core;
// a remote worker implements the same call.
#pragma once

#include "model/tokenizer.h"
#include "model/transformer.h"
#include "rollout/rollout_types.h"
#include "util/status.h"

namespace r1 {

class RolloutWorker {
 public:
  virtual ~RolloutWorker() = default;
  // Fills each sample's worker fields (rollout/sample.h). A prompt's
  // samples depend only on the request's seed and sampling settings, the
  // prompt and its prompt_index: never on the other prompts of the request.
  virtual Result<RolloutResult> run(const RolloutRequest& request) = 0;
  // Makes `policy` the version `version` this worker samples requests for.
  // An in-process worker reads the policy by reference and has nothing to do.
  virtual Status sync_policy(const Transformer& policy, int64_t version) { return Status(); }
};

class LocalRolloutWorker : public RolloutWorker {
 public:
  // `policy` and `tokenizer` (nullptr: completions stay token ids, and stop
  // strings are refused) must outlive the worker; the learner updates the
  // policy in place between requests and bumps the version it sends.
  explicit LocalRolloutWorker(const Transformer& policy, const Tokenizer* tokenizer = nullptr)
      : policy_(policy), tokenizer_(tokenizer) {}
  Result<RolloutResult> run(const RolloutRequest& request) override;

 private:
  const Transformer& policy_;
  const Tokenizer* tokenizer_;
};

}  // namespace r1
