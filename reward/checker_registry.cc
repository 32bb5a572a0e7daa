#include "reward/checker_registry.h"

#include "reward/code_reward.h"
#include "reward/format_rewards.h"
#include "reward/language_consistency.h"
#include "reward/math_reward.h"
#include "reward/shaping_rewards.h"
#include "reward/task_rewards.h"

namespace r1 {

namespace {

// Cosine judges correctness with any builtin checker.
NestedCheckerBuilder nested_builder() {
  return [](const JsonValue& entry, const std::string& where) {
    return CheckerRegistry::builtin().make_nested(entry, where);
  };
}

CheckerRegistry build_builtin() {
  CheckerRegistry r;
  r.add("format", make_format_strict_checker);
  r.add("format_lenient", make_format_lenient_checker);
  r.add("tag_count", make_tag_count_checker);
  r.add("language", make_language_checker);
  r.add("overlong", make_overlong_checker);
  r.add("cosine", [](CheckerParams& p) { return make_cosine_checker(p, nested_builder()); });
  r.add("repetition", make_repetition_checker);
  r.add("countdown", make_countdown_checker);
  r.add("gsm8k", make_gsm8k_checker);
  r.add("math", make_math_checker);
  r.add("code", make_code_checker);
  return r;
}

// The entry's "params" (null or absent: none) as a reader whose errors name the checker.
Result<CheckerParams> params_reader(const JsonValue* params, const std::string& where, const std::string& what) {
  if (params != nullptr && !params->IsNull() && !params->IsObject())
    return Status::error(where + ": field 'params' must be an object");
  return CheckerParams(params, where + " (" + what + "): params");
}

CheckerRegistry::ModelCheckerFactory& model_factory() {
  static CheckerRegistry::ModelCheckerFactory factory;
  return factory;
}

}  // namespace

void CheckerRegistry::install_model_factory(ModelCheckerFactory factory) { model_factory() = std::move(factory); }

Result<std::unique_ptr<RewardChecker>> CheckerRegistry::make_model(const std::string& kind, const JsonValue& entry,
                                                                   const std::string& where) const {
  if (!model_factory())
    return Status::error(where + ": " + kind + " entries need a program built with reward models (the r1 binary)");
  auto params = entry.FindMember("params");
  R1_ASSIGN_OR_RETURN(CheckerParams reader,
                      params_reader(params == entry.MemberEnd() ? nullptr : &params->value, where, kind));
  return model_factory()(kind, entry, reader);
}

const CheckerRegistry& CheckerRegistry::builtin() {
  static const CheckerRegistry kBuiltin = build_builtin();
  return kBuiltin;
}

void CheckerRegistry::add(const std::string& name, CheckerFactory factory) { factories_[name] = std::move(factory); }

std::vector<std::string> CheckerRegistry::names() const { return registry_names(factories_); }

Result<std::unique_ptr<RewardChecker>> CheckerRegistry::make(const std::string& name, const JsonValue* params,
                                                             const std::string& where) const {
  Result<CheckerFactory> factory = registry_lookup(factories_, name, "checker");
  if (!factory.ok()) return factory.status().with_context(where);
  R1_ASSIGN_OR_RETURN(CheckerParams reader, params_reader(params, where, name));
  return (*factory)(reader);
}

Result<std::unique_ptr<RewardChecker>> CheckerRegistry::make_nested(const JsonValue& entry,
                                                                    const std::string& where) const {
  if (!entry.IsObject()) return Status::error(where + " must be a checker name or an object");
  for (auto it = entry.MemberBegin(); it != entry.MemberEnd(); ++it) {
    std::string key = it->name.GetString();
    if (key != "checker" && key != "params")
      return Status::error(where + ": unknown key '" + key + "' (known: checker, params)");
  }
  R1_ASSIGN_OR_RETURN(std::string name, json_string(entry, "checker", where));
  auto params = entry.FindMember("params");
  return make(name, params == entry.MemberEnd() ? nullptr : &params->value, where);
}

}  // namespace r1
