// A chain of sample filters applied in order, and the report of a
// rejection-sampling run: how many samples each filter removed, prompt
// coverage, mean lengths and rewards. No tensors here.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "distill/sample_filter.h"
#include "util/status.h"

namespace r1 {

// One stage of a chain: a filter and the name the report uses for it.
struct FilterStage {
  std::string name;
  std::unique_ptr<SampleFilter> filter;
};

// Builds the chain from a JSON list of filter entries; `where` names it.
Result<std::vector<FilterStage>> make_filter_chain(const std::string& filters_json, const std::string& where);

struct FilterCount {
  std::string filter;
  int64_t input = 0;    // samples that reached the filter
  int64_t removed = 0;
  std::map<std::string, int64_t> details;
};

struct ChainResult {
  std::vector<int64_t> kept;        // indices into the samples, in order
  std::vector<int> removed_by;      // per sample: the stage that removed it, -1 if kept
  std::vector<FilterCount> counts;  // per stage, in chain order
};

// Runs the stages in order, each on the survivors of the ones before.
// `samples` must be ordered by (prompt_index, sample_index).
ChainResult apply_filter_chain(const std::vector<FilterStage>& chain, const std::vector<Sample>& samples);

struct SampleReport {
  int64_t prompts = 0;
  int64_t generated = 0;
  int64_t kept = 0;
  std::vector<FilterCount> filters;  // generated - sum(removed) == kept
  int64_t prompts_with_kept = 0;     // prompts with at least one kept sample
  std::map<int64_t, int64_t> kept_per_prompt;  // number kept -> prompts with that many
  int64_t truncated = 0;             // generated samples that hit max_new_tokens
  double mean_tokens_generated = 0, mean_tokens_kept = 0;  // completion tokens
  double mean_reward_generated = 0, mean_reward_kept = 0;
  std::string samples_path, report_path;

  std::string to_json() const;
};

// Counts for the report from the samples, the chain's outcome and the
// number of prompts.
SampleReport summarize(const std::vector<Sample>& samples, const ChainResult& chain, int64_t prompts);

}  // namespace r1
