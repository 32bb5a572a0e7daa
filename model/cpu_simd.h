// AVX2 helpers shared by the CPU kernels (model/cpu_kernels.cc,
// model/cpu_decode_attention.cc): functions marked R1_AVX2 are compiled for
// AVX2/FMA/F16C whatever the build's flags, and run only where
// cpu_has_avx2() says the CPU has them.
#pragma once

#include <immintrin.h>

#include <cstdint>

#define R1_AVX2 __attribute__((target("avx2,fma,f16c")))

// Exported by libtorch_cpu: the exp ATen's own AVX2 kernels (at::silu, softmax) call.
extern "C" R1_AVX2 __m256 Sleef_expf8_u10avx2(__m256);

namespace r1::simd {

inline bool cpu_has_avx2() {
  static const bool has =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
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

}  // namespace r1::simd
