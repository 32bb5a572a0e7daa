// Maps checker names used in reward specs ("format", "countdown", ...) to
// factories that build a checker from its params.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "reward/checker_params.h"
#include "reward/reward_checker.h"
#include "util/registry.h"

namespace r1 {

using CheckerFactory = std::function<Result<std::unique_ptr<RewardChecker>>(CheckerParams& params)>;

class CheckerRegistry {
 public:
  // Every checker this build has, one line per checker in the .cc file.
  static const CheckerRegistry& builtin();

  void add(const std::string& name, CheckerFactory factory);
  // Builds checker `name` with `params` (null: none); errors name `where`.
  Result<std::unique_ptr<RewardChecker>> make(const std::string& name, const JsonValue* params,
                                              const std::string& where) const;
  // Builds from a nested entry {"checker": name, "params": {...}} (cosine's
  // correctness judge); other keys are errors.
  Result<std::unique_ptr<RewardChecker>> make_nested(const JsonValue& entry, const std::string& where) const;
  std::vector<std::string> names() const;

  // Builds the checker of a model-backed entry: `kind` "model" ({"model":
  // DIR}, a reward model) or "judge" ({"judge": DIR, "template": T}, an LLM
  // judge); `entry` is the whole spec entry, its "params" read by `params`.
  // They need LibTorch, which this library does not link: the program
  // installs their factory once at start (the r1 binary does, with
  // reward/reward_model_checker.h); without it such an entry is an error.
  using ModelCheckerFactory = std::function<Result<std::unique_ptr<RewardChecker>>(
      const std::string& kind, const JsonValue& entry, CheckerParams& params)>;
  Result<std::unique_ptr<RewardChecker>> make_model(const std::string& kind, const JsonValue& entry,
                                                    const std::string& where) const;
  static void install_model_factory(ModelCheckerFactory factory);

 private:
  Registry<CheckerFactory> factories_;
};

}  // namespace r1
