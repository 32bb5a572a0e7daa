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
#include "rollout/sample.h"
#include "util/status.h"

namespace r1 {

// Decode steps a CUDA graph runs between two host reads; the tokens of rows
// that finish inside a window are computed and dropped.
inline constexpr int64_t kDecodeGraphWindow = 8;

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  int64_t num_samples = 1;  // completions per prompt (GRPO's G)
  SamplingOptions sampling;
  std::vector<int64_t> stop_token_ids;  // in addition to the config's eos ids
  std::vector<std::string> stop_strings;  // need `decode` below
  // Row (prompt p, sample g) draws its t-th token with
  // uniform24(stream_key({seed, p.prompt_index, g}), t): the same tokens
  // however prompts are batched or split (util/counter_rng.h).
  uint64_t seed = 0;
  // Concurrent decoders, each over a share of the prompts and of the intra-op
  // threads; 0 = 2 on the CPU (one thread's op dispatch otherwise leaves the
  // other core waiting: decode 1.1-1.3x tokens/s on 2 cores), 1 on a GPU.
  // Samples do not depend on it.
  int decode_streams = 0;
  // On a GPU, decode steps replay as CUDA graphs (dense models, routes not
  // recorded): one launch per step instead of every kernel's host-side
  // dispatch, and the host reads sampled tokens once per window of up to
  // kDecodeGraphWindow steps. The same samples as eager steps.
  bool cuda_graphs = true;
  // DeepSeekMoE: fill each Sample's routed_experts (routing replay, and the
  // learner's sampler-vs-learner route mismatch). One host read per step.
  bool record_routes = false;
  // Text of a token sequence, for stop strings; unset when there are none.
  std::function<std::string(const std::vector<int64_t>&)> decode;
};

struct GenerationStats {
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;  // tokens sampled, all rows
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t graph_steps = 0;  // decode steps replayed as CUDA graphs
};

// Samples come back in prompt order, then by sample_index, with
// prompt_index, sample_index, token_ids, logprobs and finish_reason set
// (the text is the rollout worker's), and routed_experts with record_routes. This call's counts and wall seconds
// are added to *stats.
Result<std::vector<Sample>> generate(const Transformer& model, const std::vector<RolloutPrompt>& prompts,
                                     const GenerationOptions& options, GenerationStats* stats = nullptr);

}  // namespace r1
