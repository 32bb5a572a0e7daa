// Internal state of a Tokenizer: the parsed tokenizer.json plus the compiled
// regexes and the BPE cache. Shared (read-only, cache aside) between copies.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/status.h"

namespace r1 {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// A PCRE2 pattern compiled with UTF, UCP and (when available) JIT.
class Regex {
 public:
  static Result<std::shared_ptr<Regex>> compile(const std::string& pattern);
  ~Regex();
  // Finds the next match at or after `offset`; false when none.
  bool find(std::string_view text, size_t offset, size_t& begin, size_t& end) const;

 private:
  explicit Regex(pcre2_code* code, bool jit) : code_(code), jit_(jit) {}
  pcre2_code* code_;
  bool jit_;
};

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = true, special = false;
};

// Leftmost-longest matching of added tokens (as HF's Aho-Corasick with
// MatchKind::LeftmostLongest): a byte trie walked from each position.
class TokenTrie {
 public:
  void add(std::string_view key, int32_t value);
  // Longest key starting at text[pos]: its length and value, or length 0.
  std::pair<size_t, int32_t> longest_at(std::string_view text, size_t pos) const;
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t value = -1;
  };
  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> first_{};
};

// One pre-tokenizer step: optionally prefix a space, then split by the regex
// keeping matches and gaps as separate pieces (behavior "Isolated").
struct SplitStep {
  std::shared_ptr<Regex> regex;  // null: no split
  bool add_prefix_space = false;
};

// Memo of BPE results per pre-token, sharded so threads rarely contend.
class BpeCache {
 public:
  bool get(std::string_view key, std::vector<int64_t>& out) const;
  void put(std::string_view key, const std::vector<int32_t>& ids) const;

 private:
  static constexpr size_t kShards = 64, kShardCapacity = 4096, kMaxKeyBytes = 256;
  struct Shard {
    std::mutex mu;
    StringMap<std::vector<int32_t>> map;
  };
  mutable std::array<Shard, kShards> shards_;
};

struct TokenizerData {
  std::string source;
  bool nfc = false;
  std::vector<SplitStep> steps;
  // BPE model.
  StringMap<int32_t> vocab;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a<<32|b) -> (rank, merged id)
  bool ignore_merges = false;
  std::optional<int32_t> unk_id;
  bool fuse_unk = false;
  std::array<int32_t, 256> byte_id{};  // -1 when the byte's char is not in vocab
  // Added tokens and the two matchers (raw text, then normalized text).
  std::vector<AddedToken> added;
  StringMap<int64_t> added_ids;
  TokenTrie raw_trie, normalized_trie;
  // Per id: token text, decoded bytes, special flag.
  std::vector<std::string> tokens;
  std::vector<std::string> decoded;
  std::vector<uint8_t> special;
  std::vector<uint8_t> known;
  // Ids the post_processor puts before/after the text.
  std::vector<int64_t> prefix_ids, suffix_ids;
  BpeCache cache;
};

// Parses tokenizer.json text into TokenizerData (tokenizer_load.cc).
Result<std::shared_ptr<TokenizerData>> parse_tokenizer_json(const std::string& json, const std::string& where);

}  // namespace r1
