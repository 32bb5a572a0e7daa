#include "reward/reward_spec.h"

#include <set>

#include "util/utf8.h"

namespace r1 {

namespace {

Status check_entry_keys(const JsonValue& entry, const std::string& where) {
  static const std::set<std::string> kKeys = {"checker", "weight", "params", "name"};
  for (auto it = entry.MemberBegin(); it != entry.MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    if (!kKeys.count(key)) return Status::error(where + ": unknown key '" + key + "' (known: checker, name, params, weight)");
  }
  return Status();
}

}  // namespace

std::string RewardResult::to_json() const {
  JsonWriter w;
  w.begin_object().key("components").begin_object();
  for (const auto& c : components) w.key(c.name).value(c.score);
  w.end_object().key("total").value(total).key("details").begin_object();
  for (const auto& c : components) w.key(c.name).raw(c.details);
  w.end_object().end_object();
  return w.str();
}

Result<RewardFunction::Component> RewardFunction::parse_entry(const JsonValue& entry, const std::string& where,
                                                              const CheckerRegistry& registry) {
  if (!entry.IsObject()) return Status::error(where + " must be an object");
  R1_RETURN_IF_ERROR(check_entry_keys(entry, where));
  R1_ASSIGN_OR_RETURN(std::string checker, json_string(entry, "checker", where));
  Component c;
  R1_ASSIGN_OR_RETURN(c.name, json_string_or(entry, "name", checker, where));
  R1_ASSIGN_OR_RETURN(c.weight, json_double_or(entry, "weight", 1.0, where));
  if (c.name.empty()) return Status::error(where + ": field 'name' must not be empty");
  auto params = entry.FindMember("params");
  R1_ASSIGN_OR_RETURN(std::unique_ptr<RewardChecker> made,
                      registry.make(checker, params == entry.MemberEnd() ? nullptr : &params->value, where));
  c.checker = std::move(made);
  return c;
}

Result<RewardFunction> RewardFunction::from_json(const JsonValue& spec, const std::string& where,
                                                 const CheckerRegistry& registry) {
  const JsonValue* list = &spec;
  if (spec.IsObject()) {
    for (auto it = spec.MemberBegin(); it != spec.MemberEnd(); ++it)
      if (std::string(it->name.GetString()) != "rewards")
        return Status::error(where + ": unknown key '" + it->name.GetString() + "' (known: rewards)");
    auto it = spec.FindMember("rewards");
    if (it == spec.MemberEnd()) return Status::error(where + ": field 'rewards' is missing");
    list = &it->value;
  }
  if (!list->IsArray()) return Status::error(where + ": 'rewards' must be a list of checker entries");
  if (list->Empty()) return Status::error(where + ": 'rewards' is empty");
  RewardFunction fn;
  std::set<std::string> names;
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    std::string entry_where = where + ": rewards[" + std::to_string(i) + "]";
    R1_ASSIGN_OR_RETURN(Component c, parse_entry((*list)[i], entry_where, registry));
    if (!names.insert(c.name).second)
      return Status::error(entry_where + ": component name '" + c.name +
                           "' is used twice; give one entry a distinct \"name\"");
    fn.components_.push_back(std::move(c));
  }
  return fn;
}

Result<RewardFunction> RewardFunction::from_file(const std::string& path) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(path));
  return from_json(doc, path);
}

Result<RewardFunction> RewardFunction::from_text(const std::string& text, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, where));
  return from_json(doc, where);
}

Result<RewardResult> RewardFunction::score(const RewardInput& input) const {
  // Python rewards see decoded text with U+FFFD for broken bytes; do the same
  // so regexes behave alike (a copy only when the text is broken).
  RewardInput repaired;
  const RewardInput* in = &input;
  if (!utf8_valid(input.completion)) {
    repaired = input;
    repaired.completion = utf8_lossy(input.completion);
    in = &repaired;
  }
  RewardResult result;
  for (const Component& c : components_) {
    R1_ASSIGN_OR_RETURN(RewardScore s, c.checker->score(*in));
    result.components.push_back({c.name, c.weight, s.score, s.details});
    result.total += c.weight * s.score;
  }
  return result;
}

std::vector<std::string> RewardFunction::component_names() const {
  std::vector<std::string> out;
  for (const Component& c : components_) out.push_back(c.name);
  return out;
}

}  // namespace r1
