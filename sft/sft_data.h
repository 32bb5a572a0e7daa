// SFT data: JSONL rows rendered with a chat template and tokenized into
// samples with a loss mask, rows (one sample, or several packed), and
// collated micro-batches whose attention stays inside each sample.
//
// Row forms (one per line; the first matching key decides):
//   {"messages": [{"role", "content"}, ...]}   loss on the last message (assistant)
//   {"prompt": P, "completion": C}             P, C strings or message lists; loss on C
//   {"<dataset_text_field>": T}                plain text; loss on every token
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "util/status.h"

namespace r1 {

struct SftSample {
  std::vector<int64_t> ids;
  // trained[t]: whether ids[t] is a target, i.e. the loss includes
  // -log p(ids[t] | ids[:t]). Always false at t = 0.
  std::vector<uint8_t> trained;
};

struct SftDataOptions {
  std::optional<ChatTemplate> chat_template;  // nullopt: plain concatenation ("none")
  std::string text_field = "text";
  bool completion_only_loss = true;  // false: prompt tokens are targets too
  int64_t max_length = 1024;         // samples are truncated to this many tokens
  // Appended to text rows and to completions without a chat template or
  // with R1-Zero (ChatML / Llama-3 end the turn themselves).
  std::optional<int64_t> eos_id;
};

// Tokenizes one rendered (prompt, completion) pair: ids = encode(prompt) ++
// encode(completion) [++ eos], truncated to max_length; prompt tokens are
// targets only when !completion_only_loss.
SftSample make_sample(const Tokenizer& tok, const std::string& prompt, const std::string& completion,
                      bool completion_only_loss, const SftDataOptions& options);

// Reads every row of `path`. Errors name "<file>:<line>" and the field.
// Samples without any target token (e.g. truncated away) are dropped and
// counted in *dropped.
Result<std::vector<SftSample>> load_sft_samples(const std::string& path, const Tokenizer& tok,
                                                const SftDataOptions& options, int64_t* dropped = nullptr);

// One row of a batch: samples laid end to end.
struct SftRow {
  std::vector<int64_t> ids, positions;  // positions restart at 0 for each sample
  std::vector<int64_t> labels;          // labels[t] = ids[t+1] when that is a target, else -100
  std::vector<int64_t> segment;         // which sample of the row each token belongs to
};

// Without packing: one row per sample. With packing: samples in order,
// greedily filled into rows of at most max_length tokens.
std::vector<SftRow> make_rows(const std::vector<SftSample>& samples, bool packing, int64_t max_length);

struct SftBatch {
  at::Tensor ids, positions;  // [B, L] int64, right-padded
  at::Tensor allowed;         // [B, L, L] bool: causal within a sample; pads attend to themselves
  at::Tensor labels;          // [B, L] int64, -100 where no loss
  // Padding-free forward (Transformer::forward's `packed`): the indices of
  // the real tokens in [B * L], row by row; undefined when no row is padded.
  at::Tensor packed;  // [input_tokens]
  // The target positions (labels != -100) as rows of the forward's output
  // (packed, or the flattened [B * L]) and their labels, found on the host.
  at::Tensor targets, target_labels;  // [target_tokens]
  int64_t target_tokens = 0;  // labels != -100
  int64_t input_tokens = 0;   // non-pad tokens
};

// The tensors live on `device` (the model's).
SftBatch collate(const std::vector<const SftRow*>& rows, at::Device device = at::kCPU);

}  // namespace r1
