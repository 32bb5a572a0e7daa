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

// ---- AVX-512 (head_dim a multiple of 16): four query rows at a time, so
// each key and value row is loaded once for the four; twice the lanes per
// instruction. Selected where the CPU has it (attend below). ----

template <typename T>
R1_AVX512 __m512 load16(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm512_loadu_ps(p);
  } else {  // bf16 is fp32's upper half
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
}

// [a's 128-bit lanes 0+1, 2+3, b's 0+1, 2+3].
R1_AVX512 __m512 fold_lanes(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Lane i of the result = the sum of v[i]'s sixteen lanes: pairs of
// vectors folded four times, each fold halving the lanes per sum.
R1_AVX512 __m512 horizontal_sums16(const __m512 (&v)[16]) {
  __m512 w[8], x[4];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i)  // per 128 bits: [a0+a2, b0+b2, a1+a3, b1+b3]
    w[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {  // per 128 bits: one partial sum of each of four vectors
    __m512d a = _mm512_castps_pd(w[2 * i]), b = _mm512_castps_pd(w[2 * i + 1]);
    x[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  // Across the 128-bit lanes: x[q]'s four partials end in lane q.
  return fold_lanes(fold_lanes(x[0], x[1]), fold_lanes(x[2], x[3]));
}

// Four mask values as fp32.
template <typename T>
R1_AVX512 __m128 load4(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm_loadu_ps(p);
  } else {
    __m128i wide = _mm_cvtepu16_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm_castsi128_ps(_mm_slli_epi32(wide, 16));
  }
}

// scores[r, s] = q[m + r] . k[s] * scale + mask[m + r, s] for R <= 4 query
// rows from m, keys four at a time (the 4 x 4 dot products reduced into one
// vector); a block of four keys hidden from all R rows is skipped. (A
// hidden key's -inf mask makes its score -inf whatever the product.)
template <int R, typename T>
R1_AVX512 void scores_rows(const View<T>& q, const View<T>& k, const View<T>& mask, int64_t b, int64_t h, int64_t m,
                           int64_t S, int64_t D, float scale, float* out) {
  const __m128 hidden = _mm_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512 scale16 = _mm512_set1_ps(scale);
  const T* keys = k.at(b, h, 0);
  const T* rows[R];
  const T* masks[R];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) rows[r] = q.at(b, h, m + r), masks[r] = mask.at(b, 0, m + r);
  int64_t s = 0;
  for (; s + 4 <= S; s += 4) {
    __m128 add[R];
    bool all_hidden = true;
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      add[r] = load4(masks[r] + s);
      all_hidden &= _mm_movemask_ps(_mm_cmpeq_ps(add[r], hidden)) == 0xF;
    }
    if (all_hidden) {
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) _mm_storeu_ps(out + r * S + s, hidden);
      continue;
    }
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d += 16) {
      __m512 qv[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) qv[r] = load16(rows[r] + d);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        __m512 kv = load16(keys + (s + j) * k.row + d);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[r * 4 + j] = _mm512_fmadd_ps(qv[r], kv, acc[r * 4 + j]);
      }
    }
    alignas(64) float dots[16];  // row r's four in dots[4r, 4r + 4)
    _mm512_store_ps(dots, _mm512_mul_ps(horizontal_sums16(acc), scale16));
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) _mm_storeu_ps(out + r * S + s, _mm_add_ps(_mm_load_ps(dots + 4 * r), add[r]));
  }
  for (; s < S; ++s)
    for (int r = 0; r < R; ++r) {
      float dot = 0;
      for (int64_t d = 0; d < D; ++d) dot += static_cast<float>(rows[r][d]) * static_cast<float>(keys[s * k.row + d]);
      out[r * S + s] = dot * scale + static_cast<float>(masks[r][s]);
    }
}

// The lanes of a sixteen-lane block with `left` values left in the row.
inline __mmask16 lanes_left(int64_t left) {
  return left >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << left) - 1);
}

// v rounded to nearest-even bf16, as fp32 (simd::round8's rule, per half).
R1_AVX512 __m512 round16_bf16(__m512 v) {
  __m256i low = simd::bf16_bits(_mm512_castps512_ps256(v)), high = simd::bf16_bits(_mm512_extractf32x8_ps(v, 1));
  return _mm512_castsi512_ps(_mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1));
}

// softmax_row with sixteen lanes (the tail under a mask).
R1_AVX512 void softmax_row16(float* row, int64_t S, bool to_bf16) {
  __m512 mv = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t s = 0; s < S; s += 16) {
    const __mmask16 in = lanes_left(S - s);
    mv = _mm512_mask_max_ps(mv, in, mv, _mm512_maskz_loadu_ps(in, row + s));
  }
  const __m512 maxv = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
  __m512 acc = _mm512_setzero_ps();
  for (int64_t s = 0; s < S; s += 16) {
    const __mmask16 in = lanes_left(S - s);
    __m512 x = _mm512_sub_ps(_mm512_maskz_loadu_ps(in, row + s), maxv);
    __m512 e = _mm512_maskz_mov_ps(in, Sleef_expf16_u10avx512f(x));
    _mm512_mask_storeu_ps(row + s, in, e);
    acc = _mm512_add_ps(acc, e);
  }
  const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
  for (int64_t s = 0; s < S; s += 16) {
    const __mmask16 in = lanes_left(S - s);
    __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(in, row + s), inv);
    _mm512_mask_storeu_ps(row + s, in, to_bf16 ? round16_bf16(p) : p);
  }
}

// out[r] = sum_s p[r, s] v[s, d : d + 16N] for R <= 4 rows at once.
template <int R, int N, typename T>
R1_AVX512 void weighted_values_rows(const float* p, int64_t S, const T* values, int64_t row, int64_t D, float* out) {
  __m512 acc[R][N];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < N; ++i) acc[r][i] = _mm512_setzero_ps();
  for (int64_t s = 0; s < S; ++s) {
    __m512 v[N];
#pragma GCC unroll 4
    for (int i = 0; i < N; ++i) v[i] = load16(values + s * row + 16 * i);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      __m512 weight = _mm512_set1_ps(p[r * S + s]);
#pragma GCC unroll 4
      for (int i = 0; i < N; ++i) acc[r][i] = _mm512_fmadd_ps(weight, v[i], acc[r][i]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int i = 0; i < N; ++i) _mm512_storeu_ps(out + r * D + 16 * i, acc[r][i]);
}

// One (batch row, KV head) pair: R query rows from m through scores,
// softmax and values; head_dim in slices of 64, then 32, then 16.
template <int R, typename T>
R1_AVX512 void attend_rows16(const View<T>& q, const View<T>& k, const View<T>& v, const View<T>& mask, int64_t b,
                             int64_t h, int64_t m, int64_t S, int64_t D, float scale, bool to_bf16, float* scores,
                             float* out) {
  scores_rows<R>(q, k, mask, b, h, m, S, D, scale, scores);
  for (int r = 0; r < R; ++r) softmax_row16(scores + r * S, S, to_bf16);
  const T* values = v.at(b, h, 0);
  for (int64_t d = 0; d < D;) {
    if (D - d >= 64) {
      weighted_values_rows<R, 4>(scores, S, values + d, v.row, D, out + d);
      d += 64;
    } else if (D - d >= 32) {
      weighted_values_rows<R, 2>(scores, S, values + d, v.row, D, out + d);
      d += 32;
    } else {
      weighted_values_rows<R, 1>(scores, S, values + d, v.row, D, out + d);
      d += 16;
    }
  }
}

template <typename T>
void attend_one_head16(const View<T>& q, const View<T>& k, const View<T>& v, const View<T>& mask, int64_t b, int64_t h,
                       int64_t M, int64_t S, int64_t D, float scale, bool to_bf16, float* scores, float* out) {
  for (int64_t m = 0; m < M; m += 4) {
    const int64_t rows = std::min<int64_t>(4, M - m);
    float* om = out + m * D;
    if (rows == 4) {
      attend_rows16<4>(q, k, v, mask, b, h, m, S, D, scale, to_bf16, scores, om);
    } else if (rows == 3) {
      attend_rows16<3>(q, k, v, mask, b, h, m, S, D, scale, to_bf16, scores, om);
    } else if (rows == 2) {
      attend_rows16<2>(q, k, v, mask, b, h, m, S, D, scale, to_bf16, scores, om);
    } else {
      attend_rows16<1>(q, k, v, mask, b, h, m, S, D, scale, to_bf16, scores, om);
    }
  }
}

bool unit_stride(const at::Tensor& t, at::ScalarType dtype) {
  return t.is_cpu() && t.scalar_type() == dtype && t.dim() == 4 && t.stride(3) == 1;
}

// One past the last key any of the M query rows sees: the keys after it
// (at decode, the cache's free slots) are skipped by every kernel, which
// take this as their key count.
template <typename T>
int64_t visible_keys(const View<T>& mask, int64_t b, int64_t M, int64_t S) {
  const float hidden = -std::numeric_limits<float>::infinity();
  for (int64_t s = S; s > 0; --s)
    for (int64_t m = 0; m < M; ++m)
      if (static_cast<float>(mask.at(b, 0, m)[s - 1]) != hidden) return s;
  return 0;
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
  const bool wide = simd::cpu_has_avx512() && D % 16 == 0;
  at::parallel_for(0, B * KV, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> scores(M * S), values(M * D), q_row(D);
    int64_t seen_b = -1, seen = 0;  // the mask is per batch row: scanned once for its KV heads
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / KV, h = i % KV;
      if (b != seen_b) seen = visible_keys(maskv, b, M, S), seen_b = b;
      if (wide) {
        attend_one_head16(qv, kv, vv, maskv, b, h, M, seen, D, scale, bf16, scores.data(), values.data());
      } else {
        scores_one_head(qv, kv, maskv, b, h, M, seen, D, scale, q_row.data(), scores.data());
        for (int64_t m = 0; m < M; ++m) softmax_row(scores.data() + m * seen, seen, bf16);
        weighted_values_one_head(scores.data(), vv, b, h, M, seen, D, values.data());
      }
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
#undef R1_AVX512
