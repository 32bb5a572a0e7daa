// The filters of rejection sampling: each decides which scored samples stay.
// A chain applies them in config order, each to the survivors of the ones
// before, so the report can say how many samples each filter removed.
//
// Config entries are objects {"filter": name, ...params}; unknown names and
// params are errors naming the entry. See docs/distill.md for the table.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "reward/reward_spec.h"
#include "rollout/sample.h"
#include "util/json.h"
#include "util/status.h"

namespace r1 {

struct FilterOutcome {
  std::vector<uint8_t> keep;  // one flag per input sample
  // Removal counts by cause where a filter has several (decontaminate: per
  // evaluation set matched, so a sample can count under more than one).
  std::map<std::string, int64_t> details;
};

class SampleFilter {
 public:
  virtual ~SampleFilter() = default;
  // `samples` are the survivors of the filters before this one, ordered by
  // (prompt_index, sample_index). Most filters judge each sample alone;
  // dedup and max_per_prompt look at the samples of a prompt together.
  virtual FilterOutcome apply(const std::vector<const Sample*>& samples) const = 0;
  // Called before any sampling with the reward spec's component names, so a
  // filter that names a component fails early.
  virtual Status check_reward(const std::vector<std::string>& components) const { return Status(); }
};

// Builds a filter from its entry; `where` names it in errors, e.g.
// "sample.json: filters[2]".
Result<std::unique_ptr<SampleFilter>> make_sample_filter(const JsonValue& entry, const std::string& where);

// The registered names, sorted.
std::vector<std::string> sample_filter_names();

// Checks that `entry` is an object naming a registered filter, without
// building it (decontaminate reads the evaluation sets when built).
Status check_sample_filter_entry(const JsonValue& entry, const std::string& where);

// The chain used when a config gives none: R1's rejection-sampling filters
// (docs/distill.md).
const char* default_filter_chain_json();

// Text whose whitespace runs are collapsed to one space and trimmed: two
// completions that differ only in spacing are duplicates.
std::string collapse_whitespace(const std::string& text);

// 1 - distinct / total word n-grams (words as open-r1's repetition reward
// splits them: lowercased, on whitespace); 0 below n words.
double ngram_repetition_ratio(const std::string& text, int64_t n);

}  // namespace r1
