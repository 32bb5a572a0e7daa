// Batched sampling of G completions per prompt with a KV cache.
//
// Each distinct prompt is prefilled once (in right-padded batches of prompts
// of similar length) and its keys/values are copied into the cache rows of
// its G samples; decoding then steps all live
// rows together, attending only to each row's own filled slots, and drops
// finished rows from the batch as they accumulate.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "model/sampler.h"
#include "model/transformer.h"
#include "util/status.h"

namespace r1 {

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  int64_t num_samples = 1;  // completions per prompt (GRPO's G)
  SamplingOptions sampling;
  std::vector<int64_t> stop_token_ids;  // in addition to the config's eos ids
  std::vector<std::string> stop_strings;  // need `decode` below
  uint64_t seed = 0;
  // Concurrent decoders, each over a share of the prompts and of the intra-op
  // threads; 0 = 2 on the CPU (one thread's op dispatch otherwise leaves the
  // other core waiting: decode 1.1-1.3x tokens/s on 2 cores), 1 on a GPU.
  // Samples depend on it: stream s draws from seed + s * 0x9E3779B97F4A7C15.
  int decode_streams = 0;
  // Text of a token sequence, for stop strings; unset when there are none.
  std::function<std::string(const std::vector<int64_t>&)> decode;
};

struct Completion {
  int64_t prompt_index = 0;
  int64_t sample_index = 0;
  std::vector<int64_t> token_ids;
  std::vector<float> logprobs;  // sampling-policy log-prob of each token
  std::string finish_reason;    // "stop" (eos, stop token or string) | "length"
};

struct GenerationStats {
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;  // tokens sampled, all rows
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Completions come back ordered by (prompt_index, sample_index); this
// call's counts and wall seconds are added to *stats.
Result<std::vector<Completion>> generate(const Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                         const GenerationOptions& options, GenerationStats* stats = nullptr);

}  // namespace r1
