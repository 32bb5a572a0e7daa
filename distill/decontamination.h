// Decontamination against evaluation sets by word n-gram overlap: the
// prompts of the eval sets are cut into n-grams of normalised words, hashed
// into one set, and a text is contaminated when any of its n-grams is in it
// (open-r1's decontaminate.py does the same with 8-grams of the problem).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/json.h"
#include "util/status.h"

namespace r1 {

// The words n-grams are made of: code points lowercased (Unicode simple case
// mapping), punctuation and symbols deleted ("Janet's" -> "janets",
// "16-3=13" -> "16313"), and the rest split on whitespace and control
// characters. Invalid UTF-8 bytes are dropped.
std::vector<std::string> ngram_words(std::string_view text);

// Hashed word n-grams, each tagged with the sets (bit i = set i, at most 64)
// it came from.
class NgramIndex {
 public:
  static constexpr int kMaxSets = 64;
  explicit NgramIndex(int64_t n) : n_(n) {}

  // Adds every n-gram of `text` under `set` (0 <= set < kMaxSets). A text of
  // fewer than n words adds nothing and returns false.
  bool add(int set, std::string_view text);
  // The sets sharing at least one n-gram with `text` (0 when none).
  uint64_t match(std::string_view text) const;

  int64_t n() const { return n_; }
  size_t size() const { return grams_.size(); }

 private:
  int64_t n_;
  std::unordered_map<uint64_t, uint64_t> grams_;  // n-gram hash -> set mask
};

// The prompts of one evaluation set.
struct EvalSet {
  std::string name;
  std::vector<std::string> prompts;
};

// Loads a set named the way configs name datasets (data/dataset_source.h: a
// built-in name, a .jsonl path, a spec object, ...). The set is called by
// that name, or by the spec's name / file stem for an object.
Result<EvalSet> load_eval_set(const JsonValue& source, const std::string& where);

// The evaluation sets checked when a decontaminate filter names none:
// gsm8k_test, math500, aime24, amc23, minerva_math, humaneval.
std::vector<std::string> default_decontamination_sets();

// An index over the prompts of evaluation sets.
struct DecontaminationIndex {
  NgramIndex index{10};
  std::vector<std::string> set_names;  // bit i of a match is set_names[i]
  std::vector<int64_t> texts;          // prompts indexed per set
  std::vector<int64_t> short_texts;    // prompts under n words per set (they cannot match)

  // The names of the sets in `mask`, in set order.
  std::vector<std::string> names(uint64_t mask) const;
};

// Builds the index from the sets' prompts (at most NgramIndex::kMaxSets sets).
Result<DecontaminationIndex> build_decontamination_index(const std::vector<EvalSet>& sets, int64_t n);

}  // namespace r1
