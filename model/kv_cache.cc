#include "model/kv_cache.h"

#include <ATen/core/grad_mode.h>

#include <cstring>

namespace r1 {

namespace {

// cache[rows[b, l], :, slots[b, l]] = values[b, :, l] for values [B, KV, L, D],
// where rows[b, l] = b (AttentionKV::into_cache makes them so). On the
// CPU a copy per (row, head, position): index_put_'s advanced indexing took
// ~30 us a call at decode sizes, two calls per layer and step.
void write_slots(at::Tensor& cache, const at::Tensor& rows, const at::Tensor& slots, const at::Tensor& values) {
  const bool plain_copy = cache.is_cpu() && cache.is_contiguous() && values.scalar_type() == cache.scalar_type() &&
                          !(at::GradMode::is_enabled() && values.requires_grad());
  if (!plain_copy) {
    // Advanced indices on dims 0 and 2 put the indexed dims first: values are [B, L, KV, D].
    cache.index_put_({rows, at::indexing::Slice(), slots}, values.transpose(1, 2));
    return;
  }
  // Read in place where rows are unit-stride (a decode step's keys are a
  // strided view of the fused projection's output).
  at::Tensor src = values.stride(3) == 1 ? values : values.contiguous();
  at::Tensor where = slots.to(at::kLong).contiguous();
  const int64_t B = src.size(0), KV = src.size(1), L = src.size(2), D = src.size(3), capacity = cache.size(2);
  TORCH_CHECK(cache.size(0) >= B && cache.size(1) == KV && cache.size(3) == D, "KV cache ", cache.sizes(),
              " cannot take keys/values ", src.sizes());
  const int64_t elt = src.element_size();
  const size_t row_bytes = static_cast<size_t>(D * elt);
  const int64_t* slot = where.data_ptr<int64_t>();
  char* out = static_cast<char*>(cache.data_ptr());
  const char* in = static_cast<const char*>(src.data_ptr());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l) {
      const int64_t s = slot[b * L + l];
      TORCH_CHECK(s >= 0 && s < capacity, "KV cache slot ", s, " outside its ", capacity, " slots");
      for (int64_t h = 0; h < KV; ++h)
        std::memcpy(out + ((b * KV + h) * capacity + s) * row_bytes,
                    in + (b * src.stride(0) + h * src.stride(1) + l * src.stride(2)) * elt, row_bytes);
    }
}

}  // namespace

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
    write_slots(kv.cache->k[i], kv.cache_rows, kv.cache_slots, k);
    write_slots(kv.cache->v[i], kv.cache_rows, kv.cache_slots, v);
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
