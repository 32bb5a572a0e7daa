// Byte-level BPE tokenizer loaded from a Hugging Face tokenizer.json (GPT-2,
// Qwen2, Llama-3, SmolLM2 style). Gives the same ids as HF `tokenizers`:
// added tokens are split out first, then NFC (if configured), the Split
// regexes, the byte-level mapping and BPE with ranked merges. All methods are
// const and safe to call from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace r1 {

struct TokenizerData;  // the parsed tokenizer.json (tokenizer_data.h)

class Tokenizer {
 public:
  // `path` is a tokenizer.json or a folder that holds one.
  static Result<Tokenizer> load(const std::string& path);
  // Parses tokenizer.json text; `where` names it in error messages.
  static Result<Tokenizer> from_json(const std::string& json, const std::string& where);

  // Ids of `text` as HF encode(text, add_special_tokens=False). Invalid UTF-8
  // is first repaired with U+FFFD (HF only ever sees valid str).
  std::vector<int64_t> encode(std::string_view text) const;
  // As HF encode(text, add_special_tokens=True): adds the tokens that the
  // post_processor (TemplateProcessing, e.g. Llama-3's BOS) puts around text.
  std::vector<int64_t> encode_with_special_tokens(std::string_view text) const;
  // The pre-tokens (raw UTF-8, before the byte mapping) that BPE would see;
  // added tokens are left out. Used by the trainer.
  std::vector<std::string> pre_tokenize(std::string_view text) const;
  // As HF decode: unknown ids are skipped, broken UTF-8 becomes U+FFFD.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  int64_t vocab_size() const;  // max id + 1, added tokens included
  std::optional<int64_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int64_t id) const;  // "" for unknown ids
  bool is_special(int64_t id) const;
  const std::string& source() const;  // the file it was loaded from

 private:
  explicit Tokenizer(std::shared_ptr<const TokenizerData> data) : data_(std::move(data)) {}
  std::shared_ptr<const TokenizerData> data_;
};

}  // namespace r1
