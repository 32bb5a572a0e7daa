#include "reward/reward_spec.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <set>
#include <thread>

#include "util/utf8.h"

namespace r1 {

namespace {

// The entry's kind: "checker" (a rule), "model" (a reward model) or "judge"
// (an LLM judge); exactly one of those keys is given.
Result<std::string> entry_kind(const JsonValue& entry, const std::string& where) {
  static const std::set<std::string> kKeys = {"checker", "model", "judge", "template", "weight",
                                              "params",  "name",  "when"};
  for (auto it = entry.MemberBegin(); it != entry.MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    if (!kKeys.count(key))
      return Status::error(where + ": unknown key '" + key +
                           "' (known: checker, judge, model, name, params, template, weight, when)");
  }
  std::string kind;
  for (const char* k : {"checker", "model", "judge"})
    if (json_has(entry, k)) kind += kind.empty() ? k : "+";
  if (kind.empty() || kind.find('+') != std::string::npos)
    return Status::error(where + ": give one of 'checker' (a rule), 'model' (a reward model folder) or 'judge' "
                                 "(an LLM judge's folder)");
  if (json_has(entry, "template") != (kind == "judge"))
    return Status::error(where + (kind == "judge" ? ": a judge needs 'template' (its rubric prompt)"
                                                  : ": 'template' belongs to judge entries"));
  return kind;
}

// Python rewards see decoded text with U+FFFD for broken bytes; do the same
// so regexes behave alike.
RewardInput repaired(const RewardInput& input) {
  RewardInput out = input;
  if (!utf8_valid(out.completion)) out.completion = utf8_lossy(out.completion);
  return out;
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
                                                              const CheckerRegistry& registry, bool load) {
  if (!entry.IsObject()) return Status::error(where + " must be an object");
  R1_ASSIGN_OR_RETURN(std::string kind, entry_kind(entry, where));
  R1_ASSIGN_OR_RETURN(std::string source, json_string(entry, kind.c_str(), where));
  Component c;
  std::string default_name = kind == "checker" ? source : kind == "model" ? "reward_model" : "judge";
  R1_ASSIGN_OR_RETURN(c.name, json_string_or(entry, "name", default_name, where));
  R1_ASSIGN_OR_RETURN(c.weight, json_double_or(entry, "weight", 1.0, where));
  if (c.name.empty()) return Status::error(where + ": field 'name' must not be empty");
  if (json_has(entry, "when")) {
    const JsonValue& when = entry["when"];
    if (!when.IsObject() || when.MemberCount() != 2 || !when.HasMember("field") || !when.HasMember("equals"))
      return Status::error(where + ": field 'when' must be {\"field\": NAME, \"equals\": VALUE}");
    R1_ASSIGN_OR_RETURN(c.when_field, json_string(when, "field", where + ": when"));
    c.when_equals_json = json_to_string(when["equals"]);
  }
  std::unique_ptr<RewardChecker> made;
  if (kind == "checker") {
    auto params = entry.FindMember("params");
    R1_ASSIGN_OR_RETURN(made, registry.make(source, params == entry.MemberEnd() ? nullptr : &params->value, where));
  } else if (load) {
    R1_ASSIGN_OR_RETURN(made, registry.make_model(kind, entry, where));
  }
  c.checker = std::move(made);
  return c;
}

Result<RewardFunction> RewardFunction::from_json(const JsonValue& spec, const std::string& where,
                                                 const CheckerRegistry& registry) {
  return parse(spec, where, registry, /*load=*/true);
}

Status RewardFunction::check_json(const JsonValue& spec, const std::string& where, const CheckerRegistry& registry) {
  return parse(spec, where, registry, /*load=*/false).status();
}

Status RewardFunction::check_text(const std::string& text, const std::string& where) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, where));
  return check_json(doc, where);
}

Result<RewardFunction> RewardFunction::parse(const JsonValue& spec, const std::string& where,
                                             const CheckerRegistry& registry, bool load) {
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
    R1_ASSIGN_OR_RETURN(Component c, parse_entry((*list)[i], entry_where, registry, load));
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

Result<bool> RewardFunction::applies(const Component& c, const RewardInput& input) {
  if (c.when_field.empty()) return true;
  R1_ASSIGN_OR_RETURN(const JsonValue* value, reference_field(input, c.when_field.c_str()));
  return json_to_string(*value) == c.when_equals_json;
}

Status RewardFunction::check_reference(const RewardInput& row) const {
  for (const Component& c : components_) {
    R1_ASSIGN_OR_RETURN(bool on, applies(c, row));
    Status s = on && c.checker ? c.checker->check_reference(row) : Status();
    if (!s.ok()) return Status::error(s.message() + " (for reward '" + c.name + "')");
  }
  return Status();
}

Result<RewardResult> RewardFunction::score_row(const RewardInput& input,
                                               const std::vector<std::vector<RewardScore>>* batched,
                                               size_t row) const {
  RewardResult result;
  for (size_t k = 0; k < components_.size(); ++k) {
    const Component& c = components_[k];
    R1_ASSIGN_OR_RETURN(bool on, applies(c, input));
    RewardScore s;
    if (!on) {
      s.details = R"({"skipped":"when"})";
    } else if (batched && c.checker->batched()) {
      s = (*batched)[k][row];
    } else {
      R1_ASSIGN_OR_RETURN(s, c.checker->score(input));
    }
    result.components.push_back({c.name, c.weight, s.score, s.details});
    result.total += c.weight * s.score;
  }
  return result;
}

Result<RewardResult> RewardFunction::score(const RewardInput& input) const {
  if (utf8_valid(input.completion)) return score_row(input, nullptr, 0);  // no copy for the common case
  return score_row(repaired(input), nullptr, 0);
}

Result<std::vector<RewardResult>> RewardFunction::score_all(const std::vector<RewardInput>& raw, int workers) const {
  const size_t n = raw.size();
  std::vector<RewardInput> inputs;
  inputs.reserve(n);
  for (const RewardInput& in : raw) inputs.push_back(repaired(in));
  // Batched checkers: one call over the rows each applies to.
  std::vector<std::vector<RewardScore>> batched(components_.size());
  for (size_t k = 0; k < components_.size(); ++k) {
    const Component& c = components_[k];
    if (!c.checker->batched()) continue;
    std::vector<const RewardInput*> rows;
    std::vector<size_t> at;
    for (size_t i = 0; i < n; ++i) {
      R1_ASSIGN_OR_RETURN(bool on, applies(c, inputs[i]));
      if (!on) continue;
      rows.push_back(&inputs[i]);
      at.push_back(i);
    }
    batched[k].resize(n);
    if (rows.empty()) continue;
    R1_ASSIGN_OR_RETURN(std::vector<RewardScore> scores, c.checker->score_many(rows));
    for (size_t j = 0; j < at.size(); ++j) batched[k][at[j]] = std::move(scores[j]);
  }
  // The rest, per row on threads.
  size_t threads = workers > 0 ? static_cast<size_t>(workers) : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min(threads, std::max<size_t>(n, 1));
  std::vector<std::optional<Result<RewardResult>>> slots(n);
  std::atomic<size_t> next{0};
  std::atomic<size_t> first_error{n};  // lowest failing index so far; rows above it need not be scored
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n && i < first_error.load(); i = next.fetch_add(1)) {
      slots[i] = score_row(inputs[i], &batched, i);
      if (slots[i]->ok()) continue;
      size_t seen = first_error.load();
      while (i < seen && !first_error.compare_exchange_weak(seen, i)) {
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (first_error.load() < n) return slots[first_error.load()]->status();
  std::vector<RewardResult> out;
  out.reserve(n);
  for (auto& s : slots) out.push_back(std::move(s->value()));
  return out;
}

std::vector<std::string> RewardFunction::component_names() const {
  std::vector<std::string> out;
  for (const Component& c : components_) out.push_back(c.name);
  return out;
}

}  // namespace r1
