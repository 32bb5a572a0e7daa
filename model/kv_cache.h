// Per-layer key/value cache for batched decoding.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace r1 {

struct KVCache {
  std::vector<at::Tensor> k, v;  // per layer: [B, kv_heads, capacity, head_dim]

  int64_t batch() const { return k.empty() ? 0 : k[0].size(0); }
  int64_t capacity() const { return k.empty() ? 0 : k[0].size(2); }

  // A cache holding rows `rows` [N] of this one (used to fan one prompt's
  // prefill out to its G samples, and to drop finished rows).
  KVCache select_rows(const at::Tensor& rows) const;
  // Copies the first `length` slots of row `source_row` of `source` into rows `rows`.
  void copy_prefix_into(const KVCache& source, int64_t source_row, int64_t length, const at::Tensor& rows);
};

}  // namespace r1
