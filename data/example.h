// One prompt of a dataset as the rollout engine sees it. Plain std types so
// that code which only moves examples around needs no JSON library.
#pragma once

#include <cstdint>
#include <string>

namespace r1 {

struct Example {
  int64_t index = 0;   // position in its dataset (0-based), stable across loads
  std::string id;      // the row's id field, or "<dataset>-<index>"
  std::string prompt;  // the user message, before any chat template
  std::string system;  // system message; empty for none
  std::string answer;  // final answer after extraction; empty when the set has none
  // The reference fields a reward checker reads, as one JSON object text
  // (answer, tests, numbers, target, ...). Parse it once with
  // reference_document() (data/jsonl_dataset.h) and point
  // RewardInput::reference at the result.
  std::string reference_json = "{}";
  std::string where;  // "<file>:<line>" of the source row, for errors
};

}  // namespace r1
