// Per-layer key/value cache for batched decoding, and how a forward call
// reads and writes keys/values beyond its own tokens.
#pragma once

#include <ATen/ATen.h>

#include <utility>
#include <vector>

namespace r1 {

struct KVCache {
  // Per layer: [B, kv_heads, capacity, head_dim]. For multi-head latent
  // attention (DeepSeek) the compressed cache: k holds the normalised latent
  // c_kv [B, 1, capacity, kv_lora_rank] and v the rotated rope key
  // [B, 1, capacity, qk_rope_head_dim], shared by all heads.
  std::vector<at::Tensor> k, v;

  int64_t batch() const { return k.empty() ? 0 : k[0].size(0); }
  int64_t capacity() const { return k.empty() ? 0 : k[0].size(2); }

  // A cache holding rows `rows` [N] of this one (used to fan one prompt's
  // prefill out to its G samples, and to drop finished rows).
  KVCache select_rows(const at::Tensor& rows) const;
  // Copies the first `length` slots of row `source_row` of `source` into rows `rows`.
  void copy_prefix_into(const KVCache& source, int64_t source_row, int64_t length, const at::Tensor& rows);
};

// Keys/values a forward call reads or writes beyond its own tokens.
struct AttentionKV {
  // Decoding: the call's keys/values are written into `cache` at `cache_slots`
  // [B, L] and attention reads the first S slots of the cache.
  KVCache* cache = nullptr;
  at::Tensor cache_slots;
  at::Tensor cache_rows;  // [B, L]: each slot's row, made once per call, not per layer
  // Teacher forcing after a shared prefix (differentiable): row b first
  // attends to row prefix_rows[b] ([B] int64) of `prefix`, whose per-layer
  // keys/values are [K, kv_heads, P, head_dim]; `allowed` is then
  // [B, L, P + L]. The prefix's gradient sums over the rows that read it.
  const KVCache* prefix = nullptr;
  at::Tensor prefix_rows;
  // When set, receives this call's keys/values per layer, in the graph.
  KVCache* keys_out = nullptr;

  static AttentionKV into_cache(KVCache* cache, const at::Tensor& slots) {
    AttentionKV kv;
    kv.cache = cache;
    kv.cache_slots = slots;
    kv.cache_rows = at::arange(slots.size(0), slots.options()).unsqueeze(1).expand(slots.sizes());
    return kv;
  }
  static AttentionKV collect(KVCache* keys_out) {
    AttentionKV kv;
    kv.keys_out = keys_out;
    return kv;
  }
  static AttentionKV after_prefix(const KVCache* prefix, const at::Tensor& prefix_rows) {
    AttentionKV kv;
    kv.prefix = prefix;
    kv.prefix_rows = prefix_rows;
    return kv;
  }
};

// The keys/values attention reads at `layer`, given this call's k, v
// [B, heads, L, D]: recorded in kv.keys_out, written into the cache (and
// then its first S slots read back), or read after the prefix's rows.
std::pair<at::Tensor, at::Tensor> layer_keys(const AttentionKV& kv, int64_t layer, at::Tensor k, at::Tensor v,
                                             int64_t S);

}  // namespace r1
