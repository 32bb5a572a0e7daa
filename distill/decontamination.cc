#include "distill/decontamination.h"

#include <utf8proc.h>

#include <filesystem>

#include "data/dataset_source.h"

namespace r1 {

namespace {

enum class CharClass { kWord, kBreak, kDrop };

CharClass classify(utf8proc_int32_t c) {
  switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return CharClass::kWord;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_CC:
      return CharClass::kBreak;
    default:  // punctuation, symbols, format and unassigned code points
      return CharClass::kDrop;
  }
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Hashes of the n-grams of `words`, one per window.
std::vector<uint64_t> ngram_hashes(const std::vector<std::string>& words, int64_t n) {
  std::vector<uint64_t> word_hash;
  word_hash.reserve(words.size());
  for (const auto& w : words) word_hash.push_back(fnv1a(w));
  std::vector<uint64_t> out;
  for (size_t i = 0; i + static_cast<size_t>(n) <= words.size(); ++i) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (int64_t j = 0; j < n; ++j) h = (h ^ word_hash[i + j]) * 0x100000001b3ull + 0x7f4a7c15ull;
    out.push_back(h);
  }
  return out;
}

}  // namespace

std::vector<std::string> ngram_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t c;
    utf8proc_ssize_t len = utf8proc_iterate(p, left, &c);
    if (len <= 0) {  // an invalid byte: dropped
      ++p;
      --left;
      continue;
    }
    p += len;
    left -= len;
    CharClass cls = classify(c);
    if (cls == CharClass::kWord) {
      utf8proc_uint8_t buf[4];
      utf8proc_ssize_t n = utf8proc_encode_char(utf8proc_tolower(c), buf);
      word.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
    } else if (cls == CharClass::kBreak && !word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

bool NgramIndex::add(int set, std::string_view text) {
  std::vector<uint64_t> hashes = ngram_hashes(ngram_words(text), n_);
  for (uint64_t h : hashes) grams_[h] |= uint64_t{1} << set;
  return !hashes.empty();
}

uint64_t NgramIndex::match(std::string_view text) const {
  uint64_t mask = 0;
  for (uint64_t h : ngram_hashes(ngram_words(text), n_)) {
    auto it = grams_.find(h);
    if (it != grams_.end()) mask |= it->second;
  }
  return mask;
}

std::vector<std::string> DecontaminationIndex::names(uint64_t mask) const {
  std::vector<std::string> out;
  for (size_t i = 0; i < set_names.size(); ++i)
    if (mask >> i & 1) out.push_back(set_names[i]);
  return out;
}

Result<EvalSet> load_eval_set(const JsonValue& source, const std::string& where) {
  R1_ASSIGN_OR_RETURN(Dataset ds, load_dataset_source(source, where));
  EvalSet set;
  if (source.IsString())
    set.name = source.GetString();
  else
    set.name = !ds.spec.name.empty() ? ds.spec.name : std::filesystem::path(ds.spec.path).stem().string();
  if (set.name.ends_with(".jsonl")) set.name = std::filesystem::path(set.name).stem().string();
  for (Example& e : ds.examples) set.prompts.push_back(std::move(e.prompt));
  return set;
}

std::vector<std::string> default_decontamination_sets() {
  return {"gsm8k_test", "math500", "aime24", "amc23", "minerva_math", "humaneval"};
}

Result<DecontaminationIndex> build_decontamination_index(const std::vector<EvalSet>& sets, int64_t n) {
  if (n < 1) return Status::error("decontamination n-gram size must be >= 1");
  if (sets.empty()) return Status::error("decontamination needs at least one evaluation set");
  if (sets.size() > static_cast<size_t>(NgramIndex::kMaxSets))
    return Status::error("decontamination takes at most " + std::to_string(NgramIndex::kMaxSets) + " sets");
  DecontaminationIndex out;
  out.index = NgramIndex(n);
  for (const EvalSet& set : sets) {
    int bit = static_cast<int>(out.set_names.size());
    out.set_names.push_back(set.name);
    out.texts.push_back(static_cast<int64_t>(set.prompts.size()));
    out.short_texts.push_back(0);
    for (const std::string& prompt : set.prompts)
      if (!out.index.add(bit, prompt)) ++out.short_texts.back();
  }
  return out;
}

}  // namespace r1
