// AVX2 helpers shared by the CPU kernels (model/cpu_kernels.cc,
// model/cpu_decode_attention.cc), among them eight fp32, bf16 or fp16 values
// loaded as fp32 and rounded or stored back: functions marked R1_AVX2 are compiled for
// AVX2/FMA/F16C whatever the build's flags, and run only where
// cpu_has_avx2() says the CPU has them; R1_AVX512 likewise for AVX-512
// (F, BW, VL, DQ) and cpu_has_avx512().
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <immintrin.h>

#include <cstdint>
#include <type_traits>

#define R1_AVX2 __attribute__((target("avx2,fma,f16c")))
#define R1_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")))

// Exported by libtorch_cpu: the exp ATen's own AVX2 kernels (at::silu, softmax) call.
extern "C" R1_AVX2 __m256 Sleef_expf8_u10avx2(__m256);
// Its AVX-512 sibling.
extern "C" R1_AVX512 __m512 Sleef_expf16_u10avx512f(__m512);

namespace r1::simd {

inline bool cpu_has_avx2() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return has;
}

inline bool cpu_has_avx512() {
  static const bool has = cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return has;
}

// The sum of v's eight lanes.
R1_AVX2 inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(_mm_hadd_ps(s, s));
}

// The largest of v's eight lanes.
R1_AVX2 inline float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

// ---- eight values of T as fp32, and back ----

template <typename T>
R1_AVX2 __m256 load8(const T* p) {
  if constexpr (std::is_same_v<T, float>) {
    return _mm256_loadu_ps(p);
  } else if constexpr (std::is_same_v<T, c10::BFloat16>) {  // bf16 is fp32's upper half
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
}

// v rounded to nearest-even bf16, as fp32 bits in the upper half (NaN -> the quiet NaN c10 gives).
R1_AVX2 inline __m256i bf16_bits(__m256 v) {
  __m256i bits = _mm256_castps_si256(v);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  __m256i rounded = _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF)));
  __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  return _mm256_blendv_epi8(_mm256_and_si256(rounded, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))),
                            _mm256_set1_epi32(0x7FC00000), nan);
}

// v rounded to T and back to fp32: where transformers' ops round.
template <typename T>
R1_AVX2 __m256 round8(__m256 v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else if constexpr (std::is_same_v<T, c10::BFloat16>) {
    return _mm256_castsi256_ps(bf16_bits(v));
  } else {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
}

template <typename T>
R1_AVX2 void store8(T* p, __m256 v) {
  if constexpr (std::is_same_v<T, float>) {
    _mm256_storeu_ps(p, v);
  } else if constexpr (std::is_same_v<T, c10::BFloat16>) {
    __m256i high = _mm256_srli_epi32(bf16_bits(v), 16);  // 8 x 16 bits in 32-bit lanes
    __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(high), _mm256_extracti128_si256(high, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), packed);
  } else {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
}

template <typename T>
float round_to(float v) {
  return static_cast<float>(static_cast<T>(v));
}

}  // namespace r1::simd
