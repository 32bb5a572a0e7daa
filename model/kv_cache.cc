#include "model/kv_cache.h"

namespace r1 {

KVCache KVCache::select_rows(const at::Tensor& rows) const {
  KVCache out;
  for (size_t i = 0; i < k.size(); ++i) {
    out.k.push_back(k[i].index_select(0, rows));
    out.v.push_back(v[i].index_select(0, rows));
  }
  return out;
}

void KVCache::copy_prefix_into(const KVCache& source, int64_t source_row, int64_t length, const at::Tensor& rows) {
  for (size_t i = 0; i < k.size(); ++i) {
    at::Tensor src_k = source.k[i].narrow(0, source_row, 1).narrow(2, 0, length);  // [1, H, length, D]
    at::Tensor src_v = source.v[i].narrow(0, source_row, 1).narrow(2, 0, length);
    at::Tensor dst_k = k[i].narrow(2, 0, length);
    at::Tensor dst_v = v[i].narrow(2, 0, length);
    dst_k.index_copy_(0, rows, src_k.expand({rows.size(0), -1, -1, -1}));
    dst_v.index_copy_(0, rows, src_v.expand({rows.size(0), -1, -1, -1}));
  }
}

std::pair<at::Tensor, at::Tensor> layer_keys(const AttentionKV& kv, int64_t i, at::Tensor k, at::Tensor v, int64_t S) {
  if (kv.keys_out) {
    kv.keys_out->k.push_back(k);
    kv.keys_out->v.push_back(v);
  }
  if (kv.cache) {
    // Advanced indices on dims 0 and 2 put the indexed dims first: values are [B, L, KV, D].
    kv.cache->k[i].index_put_({kv.cache_rows, at::indexing::Slice(), kv.cache_slots}, k.transpose(1, 2));
    kv.cache->v[i].index_put_({kv.cache_rows, at::indexing::Slice(), kv.cache_slots}, v.transpose(1, 2));
    k = kv.cache->k[i].narrow(2, 0, S);
    v = kv.cache->v[i].narrow(2, 0, S);
  }
  if (kv.prefix) {
    k = at::cat({kv.prefix->k[i].index_select(0, kv.prefix_rows), k}, 2);
    v = at::cat({kv.prefix->v[i].index_select(0, kv.prefix_rows), v}, 2);
  }
  return {k, v};
}

}  // namespace r1
