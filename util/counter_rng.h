// Counter-based random numbers: a value is a pure function of (key,
// counter), with no generator state. Sampling keys each (prompt, sample) row
// by stream_key(seed, prompt_index, sample_index) and counts tokens, so a row
// draws the same numbers however rows are batched, split over decode
// streams, threads, processes or hosts, and after a resume.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace r1 {

// SplitMix64's finaliser: a bijection that spreads every input bit.
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// One key from several integers; the order of the parts matters.
inline uint64_t stream_key(std::initializer_list<uint64_t> parts) {
  uint64_t key = 0x6A09E667F3BCC909ULL;  // any odd constant: key({}) != 0
  for (uint64_t p : parts) key = mix64(key ^ (p + 0x9E3779B97F4A7C15ULL));
  return key;
}

// A uniform number in [0, 1 - 2^-24], a multiple of 2^-24: exact in fp32,
// so u * total never rounds up to total (see model/sampler.cc).
inline float uniform24(uint64_t key, uint64_t counter) {
  uint64_t bits = mix64(key + (counter + 1) * 0x9E3779B97F4A7C15ULL);
  return static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
}

}  // namespace r1
