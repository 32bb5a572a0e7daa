// The learner's side of weight sync (docs/distributed.md, "Weight sync"):
// pushes a policy version to one rollout worker over an authenticated
// channel. It asks the worker what it holds (per-tensor SHA-256s), sends
// only the tensors whose bytes differ when some are unchanged (a delta
// against the worker's version), else every tensor, in buckets of at most
// `bucket_bytes`, and waits for the worker to acknowledge the new version.
#pragma once

#include <cstdint>

#include "model/transformer.h"
#include "util/status.h"

namespace r1 {

class WireChannel;  // rollout/wire_channel.h

struct WeightPushOptions {
  int64_t bucket_bytes = int64_t{256} << 20;  // payload of one weights_bucket frame
  double timeout_s = 600;                     // for each step: a bucket written, an answer read
};

struct WeightPushStats {
  bool delta = false;  // only changed tensors were sent
  int64_t tensors_sent = 0, tensors_total = 0;
  int64_t bytes_sent = 0, bytes_total = 0;
  int64_t buckets = 0;
  double digest_seconds = 0;    // hashing the policy's tensors
  double transfer_seconds = 0;  // from the first bucket to the acknowledgement
};

Result<WeightPushStats> push_weights(WireChannel& channel, const Transformer& policy, int64_t version,
                                     const WeightPushOptions& options);

}  // namespace r1
