// A reward function composed from a JSON spec: weighted checkers whose
// scores are kept per component and summed into a total.
//
//   {"rewards": [{"checker": "format", "weight": 0.5},
//                {"checker": "countdown", "name": "acc", "params": {...}}]}
//
// A bare list of entries is accepted too. See docs/rewards.md.
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

  // Thread-safe: checkers are immutable once built.
  Result<RewardResult> score(const RewardInput& input) const;
  std::vector<std::string> component_names() const;

 private:
  struct Component {
    std::string name;
    double weight;
    std::shared_ptr<const RewardChecker> checker;
  };
  static Result<Component> parse_entry(const JsonValue& entry, const std::string& where,
                                       const CheckerRegistry& registry);
  std::vector<Component> components_;
};

}  // namespace r1
