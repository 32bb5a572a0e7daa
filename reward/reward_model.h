// Reward models: *ForSequenceClassification checkpoints with one label (what
// TRL's RewardTrainer and `r1 rm train` make), scored as transformers pools
// them: the score head at each sequence's last token that is not the
// config's pad_token_id.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "model/scoring.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "util/status.h"

namespace r1 {

// An error naming `where` unless `model` is a sequence classifier with one label.
Status check_reward_model(const Transformer& model, const std::string& where);

// Position of each row's pooled token: [B] int64, the last position inside
// the row's length whose id is not pad_token_id (0 when every one is; the
// last position when the config has no pad_token_id).
at::Tensor pooled_positions(const TokenBatch& batch, std::optional<int64_t> pad_token_id);

// [B] fp32 scores of a right-padded batch; differentiable when the weights
// require grad.
at::Tensor reward_model_scores(const Transformer& model, const TokenBatch& batch);

// How TRL's RewardTrainer tokenizes reward-model text, for training pairs and
// for scoring alike. Plain text: with the tokenizer's special tokens, and
// `eos` appended unless the text already ends with it.
std::vector<int64_t> plain_text_ids(const Tokenizer& tok, const std::string& text, std::optional<int64_t> eos);
// A whole conversation rendered by `tmpl` (no generation prompt); errors name `where`.
Result<std::vector<int64_t>> chat_ids(const Tokenizer& tok, const ChatTemplate& tmpl,
                                      const std::vector<ChatMessage>& messages, const std::string& where);
// The model's first eos id, if its config has one.
std::optional<int64_t> eos_id(const ModelConfig& config);

// Scores many sequences in batches of `batch_size` without gradients: [N] fp32.
at::Tensor score_sequences(const Transformer& model, const std::vector<std::vector<int64_t>>& sequences,
                           int64_t batch_size);

}  // namespace r1
