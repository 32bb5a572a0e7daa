#include "model/cpu_decode_attention.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "model/cpu_simd.h"

namespace r1 {

namespace {

using simd::horizontal_sum;
using simd::load8;

// The eight sums of acc[0..7]'s lanes, as one vector.
R1_AVX2 __m256 horizontal_sums(const __m256 (&acc)[8]) {
  __m256 s0123 = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]), _mm256_hadd_ps(acc[2], acc[3]));
  __m256 s4567 = _mm256_hadd_ps(_mm256_hadd_ps(acc[4], acc[5]), _mm256_hadd_ps(acc[6], acc[7]));
  // Each 128-bit half holds partial sums of four accumulators: add the halves.
  return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

// q . k for D values (D a multiple of 8), q already fp32.
template <typename T>
R1_AVX2 float dot(const float* q, const T* k, int64_t D) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t d = 0; d < D; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(k + d), acc);
  return horizontal_sum(acc);
}

// Strides of a [B, heads, rows, D] tensor (unit stride in D).
template <typename T>
struct View {
  const T* data;
  int64_t b, h, row;
  explicit View(const at::Tensor& t)
      : data(t.const_data_ptr<T>()), b(t.stride(0)), h(t.stride(1)), row(t.stride(2)) {}
  const T* at(int64_t bi, int64_t hi, int64_t r) const { return data + bi * b + hi * h + r * row; }
};

// scores[m, s] = q[m] . k[s] * scale + mask[m, s] for one (batch row, KV
// head); keys in blocks of eight, and blocks the mask hides entirely skipped.
// q_row: D floats of scratch for the query row, widened to fp32.
// (The loops over the eight accumulators are unrolled so that they stay in
// registers.)
template <typename T>
R1_AVX2 void scores_one_head(const View<T>& q, const View<T>& k, const View<T>& mask, int64_t b, int64_t h,
                             int64_t M, int64_t S, int64_t D, float scale, float* q_row, float* out) {
  const __m256 hidden = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const __m256 scale8 = _mm256_set1_ps(scale);
  const T* keys = k.at(b, h, 0);
  for (int64_t m = 0; m < M; ++m) {
    std::copy_n(q.at(b, h, m), D, q_row);  // widened once per row
    const float* qm = q_row;
    const T* mm = mask.at(b, 0, m);
    float* row = out + m * S;
    int64_t s = 0;
    for (; s + 8 <= S; s += 8) {
      __m256 add = load8(mm + s);
      if (_mm256_movemask_ps(_mm256_cmp_ps(add, hidden, _CMP_EQ_OQ)) == 0xFF) {
        _mm256_storeu_ps(row + s, hidden);
        continue;
      }
      const T* block = keys + s * k.row;
      __m256 acc[8];
#pragma GCC unroll 8
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
      for (int64_t d = 0; d < D; d += 8) {
        __m256 qv = _mm256_loadu_ps(qm + d);
#pragma GCC unroll 8
        for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(qv, load8(block + j * k.row + d), acc[j]);
      }
      _mm256_storeu_ps(row + s, _mm256_fmadd_ps(horizontal_sums(acc), scale8, add));
    }
    for (; s < S; ++s) {
      const float add = static_cast<float>(mm[s]);
      row[s] = std::isinf(add) && add < 0 ? add : dot(qm, keys + s * k.row, D) * scale + add;
    }
  }
}

// row = softmax(row) in place: exp(x - max) / sum (hidden keys, -inf, give 0).
// With `to_bf16`, each probability is then rounded to bf16, as the explicit
// path casts them to the compute dtype before the product with v.
R1_AVX2 void softmax_row(float* row, int64_t S, bool to_bf16) {
  __m256 mv = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t s = 0;
  for (; s + 8 <= S; s += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(row + s));
  float max = simd::horizontal_max(mv);
  for (; s < S; ++s) max = std::max(max, row[s]);
  const __m256 maxv = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  for (s = 0; s + 8 <= S; s += 8) {
    __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(row + s), maxv));
    _mm256_storeu_ps(row + s, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = horizontal_sum(acc);
  for (; s < S; ++s) sum += row[s] = std::exp(row[s] - max);
  const __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (s = 0; s + 8 <= S; s += 8) {
    __m256 p = _mm256_mul_ps(_mm256_loadu_ps(row + s), inv);
    _mm256_storeu_ps(row + s, to_bf16 ? simd::round8<c10::BFloat16>(p) : p);
  }
  for (; s < S; ++s) {
    row[s] *= 1.0f / sum;
    if (to_bf16) row[s] = simd::round_to<c10::BFloat16>(row[s]);
  }
}

// out[r] = sum_s p[r, s] v[s, 0 : 8N] for R query rows at once (R x N
// accumulators in registers); zero probabilities (hidden keys) are skipped.
template <int R, int N, typename T>
R1_AVX2 void weighted_values_block(const float* p, int64_t S, const T* values, int64_t row, int64_t D, float* out) {
  __m256 acc[R][N];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) acc[r][i] = _mm256_setzero_ps();
  for (int64_t s = 0; s < S; ++s) {
    bool any = false;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) any |= p[r * S + s] != 0.0f;
    if (!any) continue;
    __m256 v[N];
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) v[i] = load8(values + s * row + 8 * i);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      __m256 weight = _mm256_set1_ps(p[r * S + s]);
#pragma GCC unroll 8
      for (int i = 0; i < N; ++i) acc[r][i] = _mm256_fmadd_ps(weight, v[i], acc[r][i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) _mm256_storeu_ps(out + r * D + 8 * i, acc[r][i]);
}

// out[m] = sum_s p[m, s] v[s] for one (batch row, KV head): query rows in
// pairs, head_dim in slices of 32 (then 8).
template <typename T>
R1_AVX2 void weighted_values_one_head(const float* p, const View<T>& v, int64_t b, int64_t h, int64_t M, int64_t S,
                                      int64_t D, float* out) {
  const T* values = v.at(b, h, 0);
  for (int64_t m = 0; m < M; m += 2) {
    const bool pair = m + 1 < M;
    for (int64_t d = 0; d < D;) {
      const float* pm = p + m * S;
      float* om = out + m * D + d;
      if (D - d >= 32) {
        pair ? weighted_values_block<2, 4>(pm, S, values + d, v.row, D, om)
             : weighted_values_block<1, 4>(pm, S, values + d, v.row, D, om);
        d += 32;
      } else {
        pair ? weighted_values_block<2, 1>(pm, S, values + d, v.row, D, om)
             : weighted_values_block<1, 1>(pm, S, values + d, v.row, D, om);
        d += 8;
      }
    }
  }
}

bool unit_stride(const at::Tensor& t, at::ScalarType dtype) {
  return t.is_cpu() && t.scalar_type() == dtype && t.dim() == 4 && t.stride(3) == 1;
}

// One (batch row, KV head) pair after another, each pair's scores staying
// in cache from the product through the softmax to the weighted values.
template <typename T>
void attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask, at::Tensor& out) {
  const int64_t B = q.size(0), KV = q.size(1), M = q.size(2), D = q.size(3), S = k.size(2);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  const bool bf16 = std::is_same_v<T, c10::BFloat16>;
  View<T> qv(q), kv(k), vv(v), maskv(mask);
  T* op = out.data_ptr<T>();
  // Each pair is ~M * S * D * 4 FLOPs: a few per task keep threads busy.
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, M * S * D));
  at::parallel_for(0, B * KV, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(M * S), values(M * D), q_row(D);
    for (int64_t i = begin; i < end; ++i) {
      scores_one_head(qv, kv, maskv, i / KV, i % KV, M, S, D, scale, q_row.data(), scores.data());
      for (int64_t m = 0; m < M; ++m) softmax_row(scores.data() + m * S, S, bf16);
      weighted_values_one_head(scores.data(), vv, i / KV, i % KV, M, S, D, values.data());
      std::copy(values.begin(), values.end(), op + i * M * D);  // one rounding to bf16
    }
  });
}

}  // namespace

bool cpu_decode_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                  const at::Tensor& mask) {
  const at::ScalarType t = q.scalar_type();
  if (t != at::kFloat && t != at::kBFloat16) return false;
  if (!unit_stride(q, t) || !unit_stride(k, t) || !unit_stride(v, t) || !unit_stride(mask, t)) return false;
  if (at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad())) return false;
  return q.size(2) <= kCpuDecodeQueryRows && q.size(3) % 8 == 0 && mask.size(1) == 1 && simd::cpu_has_avx2();
}

at::Tensor cpu_decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& mask) {
  TORCH_CHECK(cpu_decode_attention_applies(q, k, v, mask), "cpu_decode_attention: inputs it does not take");
  const int64_t B = q.size(0), KV = q.size(1), M = q.size(2), D = q.size(3), S = k.size(2);
  TORCH_CHECK(k.size(0) == B && k.size(1) == KV && k.size(3) == D && v.sizes() == k.sizes(),
              "cpu_decode_attention: k ", k.sizes(), " and v ", v.sizes(), " do not match q ", q.sizes());
  TORCH_CHECK(mask.size(0) == B && mask.size(2) == M && mask.size(3) == S, "cpu_decode_attention: mask ",
              mask.sizes(), " for q ", q.sizes(), " and k ", k.sizes());
  at::Tensor out = at::empty({B, KV, M, D}, q.options());
  if (q.scalar_type() == at::kBFloat16) {
    attend<c10::BFloat16>(q, k, v, mask, out);
  } else {
    attend<float>(q, k, v, mask, out);
  }
  return out;
}

}  // namespace r1

#undef R1_AVX2
