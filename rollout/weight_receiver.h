// The worker's side of weight sync (docs/distributed.md, "Weight sync"): the
// policy it serves, and a new version assembled beside it from a learner's
// push. The new version's tensors are written as their buckets arrive and
// hashed on the way; at the commit every tensor must be complete and match
// its SHA-256 and the whole version its digest, or the push is refused and
// the old version stays. Unchanged tensors of a delta push are shared with
// the old version, not copied: the weights are never written in place.
#pragma once

#include <openssl/evp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "rollout/rollout_worker.h"
#include "rollout/weight_sync.h"
#include "util/status.h"

namespace r1 {

// Makes the worker a rollout server samples with over `policy` (a
// LocalRolloutWorker, or a test's wrapper of one); the policy outlives it.
// The server's tokenizer, if any, is the factory's own (a learner's
// in-process worker takes the run's: grpo/trainer.h RolloutWorkerFactory).
using ServingWorkerFactory = std::function<std::unique_ptr<RolloutWorker>(const Transformer& policy)>;

// A version the worker serves, immutable once made.
struct ServedPolicy {
  int64_t version = 0;
  std::unique_ptr<const Transformer> model;
  std::vector<TensorDigest> tensors;
  std::string digest;  // version_digest(tensors)
  std::unique_ptr<RolloutWorker> worker;
};

// Hashes every tensor of `model` (the digests learners compare against).
Result<std::shared_ptr<const ServedPolicy>> make_served_policy(Transformer model, int64_t version,
                                                               const ServingWorkerFactory& make_worker);

// {"type":"weights_held",...}: what the worker serves, for a learner's delta.
std::string weights_held_header(const ServedPolicy& policy);

// One push on one connection: weights_begin, weights_bucket..., weights_commit.
class WeightReceiver {
 public:
  // Checks the announced version against `current` and allocates the
  // tensors to be sent; an error refuses the push at once.
  Status begin(const Frame& frame, std::shared_ptr<const ServedPolicy> current);
  bool receiving() const { return current_ != nullptr; }
  // Copies a bucket's pieces into place. A bad bucket fails the push, but
  // the learner hears of it at the commit: it does not read while it sends.
  void bucket(const Frame& frame);
  // The new version, verified; or why the push is refused. Ends the push.
  Result<std::shared_ptr<const ServedPolicy>> commit(const Frame& frame, const ServingWorkerFactory& make_worker);
  int64_t version() const { return version_; }

 private:
  struct Incoming {
    at::Tensor tensor;  // in host memory; moved to the model's device at the commit
    int64_t received = 0;
    int64_t first_bucket = -1;
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha{nullptr, EVP_MD_CTX_free};
  };
  Status put_bucket(const Frame& frame);
  Status put_piece(const std::string& name, int64_t offset, std::string_view bytes, int64_t bucket);
  Result<std::shared_ptr<const ServedPolicy>> assemble(const ServingWorkerFactory& make_worker);
  std::string where() const;

  std::shared_ptr<const ServedPolicy> current_;  // the version the push started from
  int64_t version_ = -1;
  int64_t base_version_ = -1;
  std::string digest_;
  std::vector<TensorDigest> tensors_;  // of the new version
  std::map<std::string, Incoming> incoming_;
  int64_t buckets_ = 0;
  Status failed_;
};

}  // namespace r1
