// A reward function composed from a JSON spec: weighted checkers whose
// scores are kept per component and summed into a total.
//
//   {"rewards": [{"checker": "format", "weight": 0.5},
//                {"checker": "countdown", "name": "acc", "params": {...}},
//                {"model": "runs/rm/model", "name": "helpful",
//                 "when": {"field": "kind", "equals": "general"}}]}
//
// An entry names a rule checker, or a reward model folder ({"model": DIR},
// reward/reward_model_checker.h). "when" routes it: it scores only rows
// whose reference field equals the value, and adds 0 elsewhere. A bare list
// of entries is accepted too. See docs/rewards.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "reward/checker_registry.h"
#include "reward/reward_checker.h"
#include "reward/reward_result.h"

namespace r1 {

class RewardFunction {
 public:
  // `where` prefixes errors, e.g. the spec's file name.
  static Result<RewardFunction> from_json(const JsonValue& spec, const std::string& where,
                                          const CheckerRegistry& registry = CheckerRegistry::builtin());
  static Result<RewardFunction> from_file(const std::string& path);
  // Parses spec JSON text; `where` names it in errors.
  static Result<RewardFunction> from_text(const std::string& text, const std::string& where);
  // The checks of from_json that read no file: every entry's structure and
  // the rule checkers' params; reward model and judge folders are not
  // loaded (config validation; in a recipe an earlier stage may train them).
  static Status check_json(const JsonValue& spec, const std::string& where,
                           const CheckerRegistry& registry = CheckerRegistry::builtin());
  static Status check_text(const std::string& text, const std::string& where);

  // Thread-safe: checkers are immutable once built.
  Result<RewardResult> score(const RewardInput& input) const;
  // Every input's result, in input order and equal to score() row by row:
  // batched checkers (reward models) score all the rows they apply to at
  // once, the others run per row on up to `workers` threads (<= 0: one per
  // core). Errors: a batched checker's first, else the lowest-indexed
  // failing row's, so the outcome does not depend on thread timing.
  Result<std::vector<RewardResult>> score_all(const std::vector<RewardInput>& inputs, int workers) const;
  std::vector<std::string> component_names() const;
  // A row's reference checked as scoring will read it (the fields each
  // applicable checker needs, the "when" fields), without scoring: a job
  // calls it on every dataset row before it samples anything. `row` carries
  // the reference, where, prompt and system; its completion is unused.
  Status check_reference(const RewardInput& row) const;

 private:
  struct Component {
    std::string name;
    double weight;
    std::shared_ptr<const RewardChecker> checker;
    std::string when_field;        // "" = every row
    std::string when_equals_json;  // the value, as compact JSON
  };
  // With `load` false, model and judge entries get no checker (check_json).
  static Result<Component> parse_entry(const JsonValue& entry, const std::string& where,
                                       const CheckerRegistry& registry, bool load);
  static Result<RewardFunction> parse(const JsonValue& spec, const std::string& where,
                                      const CheckerRegistry& registry, bool load);
  static Result<bool> applies(const Component& c, const RewardInput& input);
  // One row's result; `batched` (when given) holds, per component, the
  // scores its batched checker already gave each row.
  Result<RewardResult> score_row(const RewardInput& input,
                                 const std::vector<std::vector<RewardScore>>* batched, size_t row) const;
  std::vector<Component> components_;
};

}  // namespace r1
