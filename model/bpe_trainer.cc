#include "model/bpe_trainer.h"

#include <algorithm>
#include <fstream>
#include <queue>
#include <unordered_map>

#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "model/unicode_text.h"
#include "util/file.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

const char* const kQwen2SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

void write_byte_level(JsonWriter& w) {
  w.begin_object().key("type").value("ByteLevel").key("add_prefix_space").value(false);
  w.key("trim_offsets").value(false).key("use_regex").value(false).end_object();
}

std::string tokenizer_json(const std::vector<std::string>& vocab,
                           const std::vector<std::pair<std::string, std::string>>& merges,
                           const BpeTrainerOptions& o) {
  JsonWriter w;
  w.begin_object().key("version").value("1.0").key("truncation").null().key("padding").null();
  w.key("added_tokens").begin_array();
  for (size_t i = 0; i < o.special_tokens.size(); ++i) {
    w.begin_object().key("id").value(static_cast<int64_t>(i)).key("content").value(o.special_tokens[i]);
    w.key("single_word").value(false).key("lstrip").value(false).key("rstrip").value(false);
    w.key("normalized").value(false).key("special").value(true).end_object();
  }
  w.end_array();
  w.key("normalizer").begin_object().key("type").value("NFC").end_object();
  w.key("pre_tokenizer").begin_object().key("type").value("Sequence").key("pretokenizers").begin_array();
  w.begin_object().key("type").value("Split").key("pattern").begin_object().key("Regex").value(kQwen2SplitPattern);
  w.end_object().key("behavior").value("Isolated").key("invert").value(false).end_object();
  write_byte_level(w);
  w.end_array().end_object();
  w.key("post_processor");
  write_byte_level(w);
  w.key("decoder");
  write_byte_level(w);
  w.key("model").begin_object().key("type").value("BPE").key("dropout").null().key("unk_token").null();
  w.key("continuing_subword_prefix").null().key("end_of_word_suffix").null().key("fuse_unk").value(false);
  w.key("byte_fallback").value(false).key("ignore_merges").value(false).key("vocab").begin_object();
  for (size_t i = 0; i < vocab.size(); ++i) w.key(vocab[i]).value(static_cast<int64_t>(i));
  w.end_object().key("merges").begin_array();
  for (const auto& [a, b] : merges) w.begin_array().value(a).value(b).end_array();
  w.end_array().end_object().end_object();
  return w.str();
}

struct Word {
  std::vector<int32_t> syms;
  int64_t count;
};

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

// Pair statistics with a lazy max-heap: (count, -pair) so the smallest pair wins ties.
class PairStats {
 public:
  void add(const Word& w, int32_t word_index, int64_t sign) {
    for (size_t i = 0; i + 1 < w.syms.size(); ++i) {
      uint64_t k = pair_key(w.syms[i], w.syms[i + 1]);
      int64_t& c = counts_[k];
      c += sign * w.count;
      if (sign > 0) where_[k].push_back(word_index);
      touched_.push_back(k);
    }
  }
  void flush() {
    std::sort(touched_.begin(), touched_.end());
    touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
    for (uint64_t k : touched_) heap_.emplace(counts_[k], ~k);
    touched_.clear();
  }
  // Most frequent pair with count ≥ min_count; false when none.
  bool best(int64_t min_count, uint64_t& key) {
    while (!heap_.empty()) {
      auto [count, inv] = heap_.top();
      uint64_t k = ~inv;
      if (counts_[k] != count) {  // stale
        heap_.pop();
        continue;
      }
      if (count < min_count) return false;
      key = k;
      return true;
    }
    return false;
  }
  std::vector<int32_t> take_words(uint64_t key) { return std::move(where_[key]); }

 private:
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::vector<int32_t>> where_;
  std::priority_queue<std::pair<int64_t, uint64_t>> heap_;
  std::vector<uint64_t> touched_;
};

bool has_pair(const Word& w, int32_t a, int32_t b) {
  for (size_t i = 0; i + 1 < w.syms.size(); ++i)
    if (w.syms[i] == a && w.syms[i + 1] == b) return true;
  return false;
}

void merge_word(Word& w, int32_t a, int32_t b, int32_t merged) {
  std::vector<int32_t> out;
  out.reserve(w.syms.size());
  for (size_t i = 0; i < w.syms.size(); ++i) {
    if (i + 1 < w.syms.size() && w.syms[i] == a && w.syms[i + 1] == b) {
      out.push_back(merged);
      ++i;
    } else {
      out.push_back(w.syms[i]);
    }
  }
  w.syms = std::move(out);
}

Result<std::vector<Word>> count_words(const std::vector<std::string>& texts, const std::string& base_json,
                                      int32_t first_byte_id) {
  R1_ASSIGN_OR_RETURN(Tokenizer base, Tokenizer::from_json(base_json, "<trainer tokenizer.json>"));
  std::unordered_map<std::string, int64_t> counts;
  for (const std::string& text : texts)
    for (std::string& piece : base.pre_tokenize(text)) ++counts[std::move(piece)];
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());  // fixed order: results never depend on hashing
  std::vector<Word> words;
  for (auto& [piece, count] : sorted) {
    Word w{{}, count};
    for (char c : piece) w.syms.push_back(first_byte_id + static_cast<unsigned char>(c));
    words.push_back(std::move(w));
  }
  return words;
}

}  // namespace

Result<std::string> train_bpe_tokenizer_json(const std::vector<std::string>& texts, const BpeTrainerOptions& o) {
  std::vector<std::string> vocab = o.special_tokens;
  const auto first_byte_id = static_cast<int32_t>(vocab.size());
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    append_utf8(ch, byte_to_char()[b]);
    vocab.push_back(ch);
  }
  if (o.vocab_size < static_cast<int64_t>(vocab.size()))
    return Status::error("vocab_size " + std::to_string(o.vocab_size) + " is below the " +
                         std::to_string(vocab.size()) + " special and byte tokens");
  std::vector<std::pair<std::string, std::string>> merges;
  R1_ASSIGN_OR_RETURN(std::vector<Word> words, count_words(texts, tokenizer_json(vocab, merges, o), first_byte_id));
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < vocab.size(); ++i) ids[vocab[i]] = static_cast<int32_t>(i);
  PairStats stats;
  for (size_t i = 0; i < words.size(); ++i) stats.add(words[i], static_cast<int32_t>(i), +1);
  stats.flush();
  uint64_t key;
  while (static_cast<int64_t>(vocab.size()) < o.vocab_size && stats.best(std::max<int64_t>(o.min_frequency, 1), key)) {
    auto a = static_cast<int32_t>(key >> 32), b = static_cast<int32_t>(key & 0xFFFFFFFFu);
    std::string merged = vocab[a] + vocab[b];
    auto [it, fresh] = ids.emplace(merged, static_cast<int32_t>(vocab.size()));
    if (fresh) vocab.push_back(merged);
    merges.emplace_back(vocab[a], vocab[b]);
    std::vector<int32_t> where = stats.take_words(key);
    std::sort(where.begin(), where.end());
    where.erase(std::unique(where.begin(), where.end()), where.end());
    for (int32_t wi : where) {
      if (!has_pair(words[wi], a, b)) continue;  // an older entry: the pair was merged away
      stats.add(words[wi], wi, -1);
      merge_word(words[wi], a, b, it->second);
      stats.add(words[wi], wi, +1);
    }
    stats.flush();
  }
  std::string json = tokenizer_json(vocab, merges, o);
  R1_RETURN_IF_ERROR(Tokenizer::from_json(json, "<trained tokenizer.json>").status());  // self-check
  return json;
}

std::string tokenizer_config_json(const BpeTrainerOptions& o) {
  JsonWriter w;
  w.begin_object().key("tokenizer_class").value("PreTrainedTokenizerFast");
  w.key("bos_token").null().key("eos_token").value(o.eos_token).key("pad_token").value(o.pad_token);
  w.key("unk_token").null().key("model_max_length").value(o.model_max_length);
  w.key("clean_up_tokenization_spaces").value(false).key("add_prefix_space").value(false);
  w.key("chat_template").value(kChatMlJinja).end_object();
  return w.str();
}

Status write_tokenizer_files(const std::string& dir, const std::vector<std::string>& texts,
                             const BpeTrainerOptions& o) {
  R1_ASSIGN_OR_RETURN(std::string json, train_bpe_tokenizer_json(texts, o));
  R1_RETURN_IF_ERROR(make_dirs(dir));
  R1_RETURN_IF_ERROR(write_file_atomic(dir + "/tokenizer.json", json));
  return write_file_atomic(dir + "/tokenizer_config.json", tokenizer_config_json(o));
}

Result<std::vector<std::string>> read_corpus(const std::string& path) {
  std::vector<std::string> texts;
  if (path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0) {
    R1_ASSIGN_OR_RETURN(JsonlReader reader, JsonlReader::open(path));
    rapidjson::Document doc;
    while (true) {
      R1_ASSIGN_OR_RETURN(bool more, reader.next(doc));
      if (!more) break;
      R1_ASSIGN_OR_RETURN(std::string text, json_string(doc, "text", reader.where()));
      texts.push_back(std::move(text));
    }
    return texts;
  }
  std::ifstream in(path);
  if (!in) return Status::error(path + ": cannot open for reading");
  for (std::string line; std::getline(in, line);) texts.push_back(std::move(line));
  return texts;
}

}  // namespace r1
