// Rollout workers turn a RolloutRequest into a RolloutResult. The learner
// only sees this interface; LocalRolloutWorker samples in this process with
// the model core, and a remote worker can later implement the same call.
#pragma once

#include "model/tokenizer.h"
#include "model/transformer.h"
#include "rollout/rollout_types.h"
#include "util/status.h"

namespace r1 {

class RolloutWorker {
 public:
  virtual ~RolloutWorker() = default;
  virtual Result<RolloutResult> run(const RolloutRequest& request) = 0;
};

class LocalRolloutWorker : public RolloutWorker {
 public:
  // `policy` (and `tokenizer`, needed only for stop strings) must outlive the
  // worker; the learner updates the policy in place between requests and
  // bumps the version it sends.
  explicit LocalRolloutWorker(const Transformer& policy, const Tokenizer* tokenizer = nullptr)
      : policy_(policy), tokenizer_(tokenizer) {}
  Result<RolloutResult> run(const RolloutRequest& request) override;

 private:
  const Transformer& policy_;
  const Tokenizer* tokenizer_;
};

}  // namespace r1
