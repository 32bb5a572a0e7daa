#include "reward/reward_model.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>

namespace r1 {

Status check_reward_model(const Transformer& model, const std::string& where) {
  const ModelConfig& c = model.config();
  if (c.head != ModelHead::sequence_classification)
    return Status::error(where + ": not a reward model: config.json's architectures name a causal LM, not "
                                 "*ForSequenceClassification");
  if (c.num_labels != 1)
    return Status::error(where + ": a reward model has one label; config.json has num_labels " +
                         std::to_string(c.num_labels) + " (id2label)");
  return Status();
}

at::Tensor pooled_positions(const TokenBatch& batch, std::optional<int64_t> pad_token_id) {
  int64_t L = batch.ids.size(1);
  at::Tensor positions = at::arange(L, batch.ids.options()).unsqueeze(0);  // [1, L]
  at::Tensor real = positions < batch.lengths.unsqueeze(1);                // [B, L]
  if (pad_token_id) real = real & batch.ids.ne(*pad_token_id);
  return (positions * real).argmax(-1);
}

at::Tensor reward_model_scores(const Transformer& model, const TokenBatch& batch) {
  at::Tensor hidden = batch_hidden(model, batch);  // [B, L, H]
  at::Tensor at = pooled_positions(batch, model.config().pad_token_id).view({-1, 1, 1}).expand({-1, 1, hidden.size(2)});
  at::Tensor pooled = hidden.gather(1, at).squeeze(1);  // [B, H]
  return model.score(pooled).squeeze(-1).to(at::kFloat);
}

std::vector<int64_t> plain_text_ids(const Tokenizer& tok, const std::string& text, std::optional<int64_t> eos) {
  std::vector<int64_t> ids = tok.encode_with_special_tokens(text);
  if (eos && (ids.empty() || ids.back() != *eos)) ids.push_back(*eos);
  return ids;
}

Result<std::vector<int64_t>> chat_ids(const Tokenizer& tok, const ChatTemplate& tmpl,
                                      const std::vector<ChatMessage>& messages, const std::string& where) {
  auto text = render_chat(tmpl, messages, /*add_generation_prompt=*/false);
  if (!text.ok()) return text.status().with_context(where);
  std::vector<int64_t> ids = tok.encode(*text);
  if (ids.empty()) return Status::error(where + ": nothing to score (empty conversation)");
  return ids;
}

std::optional<int64_t> eos_id(const ModelConfig& config) {
  if (config.eos_token_ids.empty()) return std::nullopt;
  return config.eos_token_ids.front();
}

at::Tensor score_sequences(const Transformer& model, const std::vector<std::vector<int64_t>>& sequences,
                           int64_t batch_size) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> parts;
  for (size_t start = 0; start < sequences.size(); start += batch_size) {
    size_t end = std::min(sequences.size(), start + static_cast<size_t>(batch_size));
    TokenBatch batch = make_token_batch({sequences.begin() + start, sequences.begin() + end}, model.device());
    parts.push_back(reward_model_scores(model, batch).cpu());
  }
  return parts.empty() ? at::empty({0}) : at::cat(parts);
}

}  // namespace r1
