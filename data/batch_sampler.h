// Epoch-based shuffled iteration over dataset indices. Each epoch is a fresh
// permutation drawn from (seed, epoch), so the cursor (epoch, position) alone
// says where a run stands: a resumed run continues with exactly the same
// prompts. A batch that runs past the end of an epoch continues into the next.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

struct SamplerCursor {
  int64_t epoch = 0;
  int64_t position = 0;  // indices of this epoch already handed out
};

class BatchSampler {
 public:
  // An error when the dataset is empty.
  static Result<BatchSampler> create(int64_t dataset_size, uint64_t seed, SamplerCursor cursor = {});

  // The next `n` dataset indices. An error when the dataset is smaller than
  // one batch (every prompt of a batch should be distinct).
  Result<std::vector<int64_t>> next_batch(int64_t n);

  SamplerCursor cursor() const { return cursor_; }
  int64_t dataset_size() const { return size_; }
  uint64_t seed() const { return seed_; }

  // {"seed": s, "dataset_size": n, "epoch": e, "position": p}
  std::string state_json() const;
  // Restores a sampler from state_json(); the seed and dataset size must
  // match the run's, or the prompts would silently differ.
  static Result<BatchSampler> from_state_json(const std::string& json, int64_t dataset_size, uint64_t seed,
                                              const std::string& where);

 private:
  BatchSampler(int64_t size, uint64_t seed, SamplerCursor cursor);
  void shuffle_epoch();
  int64_t size_;
  uint64_t seed_;
  SamplerCursor cursor_;
  std::vector<int64_t> order_;  // the permutation of cursor_.epoch
};

}  // namespace r1
