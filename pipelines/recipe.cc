#include "pipelines/recipe.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <set>

#include "util/file.h"
#include "util/json.h"
#include "util/process.h"

namespace r1 {

namespace {

namespace fs = std::filesystem;

constexpr const char* kReferenceHelp = "write ${stages.NAME.OUTPUT} or ${vars.NAME}";

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::vector<std::string> output_names(const StageTypeInfo& t) {
  std::vector<std::string> names;
  for (const auto& o : t.outputs) names.push_back(o.name);
  return names;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    size_t end = s.find(sep, begin);
    parts.push_back(s.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return parts;
    begin = end + 1;
  }
}

bool valid_name(const std::string& name) {
  if (name.empty() || name == "vars" || name[0] == '.' || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; });
}

// The references in one string, in order of appearance.
Status scan_string(const std::string& s, const std::string& key, std::vector<Reference>& out) {
  size_t pos = 0;
  while ((pos = s.find("${", pos)) != std::string::npos) {
    size_t end = s.find('}', pos);
    if (end == std::string::npos)
      return Status::error(key + ": unterminated reference in '" + s + "' (" + kReferenceHelp + ")");
    Reference r;
    r.key = key;
    r.text = s.substr(pos, end - pos + 1);
    std::vector<std::string> parts = split(s.substr(pos + 2, end - pos - 2), '.');
    if (parts.size() == 3 && parts[0] == "stages" && !parts[1].empty() && !parts[2].empty()) {
      r.scope = "stages", r.name = parts[1], r.output = parts[2];
    } else if (parts.size() == 2 && parts[0] == "vars" && !parts[1].empty()) {
      r.scope = "vars", r.name = parts[1];
    } else {
      return Status::error(key + ": unknown reference '" + r.text + "' (" + kReferenceHelp + ")");
    }
    out.push_back(std::move(r));
    pos = end + 1;
  }
  return Status();
}

Status collect_references(const JsonValue& v, const std::string& key, std::vector<Reference>& out) {
  if (v.IsString()) return scan_string(std::string(v.GetString(), v.GetStringLength()), key, out);
  if (v.IsObject())
    for (const auto& m : v.GetObject())
      R1_RETURN_IF_ERROR(collect_references(m.value, key + "." + m.name.GetString(), out));
  if (v.IsArray())
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
      R1_RETURN_IF_ERROR(collect_references(v[i], key + "[" + std::to_string(i) + "]", out));
  return Status();
}

// The value a string becomes: a lone reference keeps its value's JSON type
// (a var may be a number); references inside longer text become text.
using Lookup = std::function<Result<const JsonValue*>(const Reference&)>;

Status substitute(JsonValue& v, const std::string& key, const Lookup& lookup, rapidjson::Document::AllocatorType& a) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject())
      R1_RETURN_IF_ERROR(substitute(m.value, key + "." + m.name.GetString(), lookup, a));
    return Status();
  }
  if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
      R1_RETURN_IF_ERROR(substitute(v[i], key + "[" + std::to_string(i) + "]", lookup, a));
    return Status();
  }
  if (!v.IsString()) return Status();
  std::string s(v.GetString(), v.GetStringLength());
  std::vector<Reference> refs;
  R1_RETURN_IF_ERROR(scan_string(s, key, refs));
  if (refs.empty()) return Status();
  if (refs.size() == 1 && refs[0].text == s) {
    R1_ASSIGN_OR_RETURN(const JsonValue* value, lookup(refs[0]));
    v.CopyFrom(*value, a);
    return Status();
  }
  std::string out;
  size_t pos = 0;
  for (const Reference& r : refs) {
    size_t at = s.find(r.text, pos);
    R1_ASSIGN_OR_RETURN(const JsonValue* value, lookup(r));
    if (!value->IsString() && !value->IsNumber())
      return Status::error(key + ": " + r.text + " is not text or a number, so it cannot be part of a string");
    out += s.substr(pos, at - pos) + (value->IsString() ? value->GetString() : json_to_string(*value));
    pos = at + r.text.size();
  }
  out += s.substr(pos);
  v.SetString(out.c_str(), static_cast<rapidjson::SizeType>(out.size()), a);
  return Status();
}

Status check_keys(const JsonValue& obj, const std::vector<std::string>& known, const std::string& where) {
  for (const auto& m : obj.GetObject()) {
    std::string key = m.name.GetString();
    if (std::find(known.begin(), known.end(), key) == known.end())
      return Status::error(where + ": unknown key '" + key + "' (known: " + join(known) + ")");
  }
  return Status();
}

// Sets `path` (dot-separated keys) inside `obj`, creating objects on the way.
Status set_path(JsonValue& obj, const std::vector<std::string>& path, rapidjson::Value value,
                rapidjson::Document::AllocatorType& a, const std::string& where) {
  JsonValue* cur = &obj;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    auto it = cur->FindMember(path[i].c_str());
    if (it == cur->MemberEnd()) {
      cur->AddMember(rapidjson::Value(path[i].c_str(), a), rapidjson::Value(rapidjson::kObjectType), a);
      it = cur->FindMember(path[i].c_str());
    }
    if (!it->value.IsObject()) return Status::error(where + ": key '" + path[i] + "' is not an object");
    cur = &it->value;
  }
  cur->RemoveMember(path.back().c_str());
  cur->AddMember(rapidjson::Value(path.back().c_str(), a), value, a);
  return Status();
}

Status apply_override(rapidjson::Document& doc, const std::string& o, const std::vector<std::string>& names) {
  const std::string where = "--set '" + o + "'";
  size_t eq = o.find('=');
  std::vector<std::string> path = split(o.substr(0, eq == std::string::npos ? 0 : eq), '.');
  if (eq == std::string::npos || path.size() < 2 ||
      std::any_of(path.begin(), path.end(), [](const std::string& p) { return p.empty(); }))
    return Status::error(where + ": expected STAGE.KEY=VALUE or vars.NAME=VALUE");
  auto& a = doc.GetAllocator();
  rapidjson::Value value = json_override_value(o.substr(eq + 1), a);
  if (path[0] == "vars") {
    if (path.size() != 2) return Status::error(where + ": expected vars.NAME=VALUE");
    if (!doc.HasMember("vars") || !doc["vars"].HasMember(path[1].c_str())) {
      std::vector<std::string> declared;
      if (doc.HasMember("vars"))
        for (const auto& m : doc["vars"].GetObject()) declared.push_back(m.name.GetString());
      return Status::error(where + ": the recipe declares no var '" + path[1] + "' (vars: " +
                           (declared.empty() ? "none" : join(declared)) + ")");
    }
    doc["vars"][path[1].c_str()] = value;
    return Status();
  }
  auto it = std::find(names.begin(), names.end(), path[0]);
  if (it == names.end()) return Status::error(where + ": no stage '" + path[0] + "' (stages: " + join(names) + ")");
  JsonValue& stage = doc["stages"][static_cast<rapidjson::SizeType>(it - names.begin())];
  if (!stage.HasMember("config")) stage.AddMember("config", rapidjson::Value(rapidjson::kObjectType), a);
  return set_path(stage["config"], {path.begin() + 1, path.end()}, std::move(value), a, where);
}

// The structure of the file: top-level keys, each stage's keys, types and
// names. Returns the stage names in order.
Result<std::vector<std::string>> check_structure(const rapidjson::Document& doc, const std::string& where) {
  if (!doc.IsObject()) return Status::error(where + ": a recipe must be a JSON object");
  R1_RETURN_IF_ERROR(check_keys(doc, {"name", "description", "vars", "stages"}, where));
  for (const char* key : {"name", "description"})
    if (doc.HasMember(key) && !doc[key].IsString()) return Status::error(where + ": " + key + ": must be a string");
  if (doc.HasMember("vars") && !doc["vars"].IsObject())
    return Status::error(where + ": vars: must be an object of NAME: value");
  if (doc.HasMember("vars"))
    for (const auto& m : doc["vars"].GetObject())
      if (!valid_name(m.name.GetString()))
        return Status::error(where + ": vars." + m.name.GetString() +
                             ": not a valid var name (letters, digits, '_' and '-')");
  if (!doc.HasMember("stages")) return Status::error(where + ": stages: missing (a list of stages)");
  const JsonValue& stages = doc["stages"];
  if (!stages.IsArray() || stages.Empty()) return Status::error(where + ": stages: must be a non-empty list");
  std::vector<std::string> names;
  for (rapidjson::SizeType i = 0; i < stages.Size(); ++i) {
    const std::string at = where + ": stages[" + std::to_string(i) + "]";
    const JsonValue& s = stages[i];
    if (!s.IsObject()) return Status::error(at + ": must be an object {name, type, config}");
    R1_RETURN_IF_ERROR(check_keys(s, {"name", "type", "config", "compare_to", "description"}, at));
    if (!s.HasMember("name") || !s["name"].IsString()) return Status::error(at + ".name: missing (a string)");
    std::string name = s["name"].GetString();
    if (!valid_name(name))
      return Status::error(at + ".name: '" + name +
                           "' is not a valid stage name (letters, digits, '_' and '-'; not 'vars'): it names the "
                           "stage's folder");
    auto dup = std::find(names.begin(), names.end(), name);
    if (dup != names.end())
      return Status::error(at + ".name: duplicate stage name '" + name + "' (also stages[" +
                           std::to_string(dup - names.begin()) + "])");
    if (!s.HasMember("type") || !s["type"].IsString()) return Status::error(at + ".type: missing (a string)");
    std::string type = s["type"].GetString();
    if (!find_stage_type(type)) {
      std::vector<std::string> known;
      for (const auto& t : stage_types()) known.push_back(t.type);
      return Status::error(at + ".type: unknown stage type '" + type + "' (known: " + join(known) + ")");
    }
    if (s.HasMember("config") && !s["config"].IsObject()) return Status::error(at + ".config: must be an object");
    if (s.HasMember("config") && s["config"].HasMember("output_dir"))
      return Status::error(at + ".config.output_dir: set by the runner (<run dir>/" + name + "); remove it");
    if (s.HasMember("compare_to") && (!s["compare_to"].IsString() || type != "eval"))
      return Status::error(at + ".compare_to: only an eval stage may name another eval stage to compare with");
    names.push_back(name);
  }
  return names;
}

// A path of references from stage `from` to stage `to`, or empty.
std::vector<size_t> reference_path(const std::vector<std::vector<size_t>>& edges, size_t from, size_t to) {
  std::vector<size_t> path{from};
  std::set<size_t> seen{from};
  std::function<bool(size_t)> dfs = [&](size_t at) {
    if (at == to) return true;
    for (size_t next : edges[at]) {
      if (!seen.insert(next).second) continue;
      path.push_back(next);
      if (dfs(next)) return true;
      path.pop_back();
    }
    return false;
  };
  return dfs(from) ? path : std::vector<size_t>{};
}

Status check_references(Recipe& r) {
  const size_t n = r.stages.size();
  // Edges over every reference to a known stage, forward ones included, so a
  // cycle can be shown whole.
  std::vector<std::vector<size_t>> edges(n);
  for (size_t i = 0; i < n; ++i)
    for (const Reference& ref : r.stages[i].references)
      if (ref.scope == "stages" && r.find_stage(ref.name) >= 0) edges[i].push_back(r.find_stage(ref.name));
  for (size_t i = 0; i < n; ++i) {
    RecipeStage& stage = r.stages[i];
    for (const Reference& ref : stage.references) {
      const std::string at = r.where + ": " + ref.key + ": ";
      if (ref.scope == "vars") {
        auto var = std::find_if(r.vars.begin(), r.vars.end(), [&](const auto& v) { return v.first == ref.name; });
        if (var == r.vars.end())
          return Status::error(at + "references unknown var '" + ref.name + "' (declare it in \"vars\")");
        continue;
      }
      int j = r.find_stage(ref.name);
      if (j < 0) return Status::error(at + "references unknown stage '" + ref.name + "'");
      const StageTypeInfo& type = *find_stage_type(r.stages[j].type);
      auto out = std::find_if(type.outputs.begin(), type.outputs.end(),
                              [&](const StageOutput& o) { return ref.output == o.name; });
      if (out == type.outputs.end())
        return Status::error(at + "stage '" + ref.name + "' (" + type.type + ") has no output '" + ref.output +
                             "' (it writes: " + join(output_names(type)) + ")");
      if (static_cast<size_t>(j) == i)
        return Status::error(at + "a stage cannot use its own output '" + ref.text + "'");
      if (static_cast<size_t>(j) > i) {
        std::vector<size_t> back = reference_path(edges, j, i);
        if (!back.empty()) {
          std::string cycle = stage.name;
          for (size_t k : back) cycle += " -> " + r.stages[k].name;
          return Status::error(at + "references stage '" + ref.name + "', which forms a cycle: " + cycle +
                               " (each arrow: uses the output of)");
        }
        return Status::error(at + "references stage '" + ref.name + "', which runs later (stages[" +
                             std::to_string(j) + "]); a stage can only use the outputs of stages before it");
      }
      stage.inputs.push_back(static_cast<size_t>(j));
    }
    std::sort(stage.inputs.begin(), stage.inputs.end());
    stage.inputs.erase(std::unique(stage.inputs.begin(), stage.inputs.end()), stage.inputs.end());
    if (!stage.compare_to.empty()) {
      const std::string at = r.where + ": stages[" + std::to_string(i) + "].compare_to: ";
      int j = r.find_stage(stage.compare_to);
      if (j < 0) return Status::error(at + "no stage '" + stage.compare_to + "'");
      if (r.stages[j].type != "eval" || static_cast<size_t>(j) == i)
        return Status::error(at + "must name another eval stage, '" + stage.compare_to + "' is " +
                             (static_cast<size_t>(j) == i ? "this stage" : r.stages[j].type));
    }
  }
  return Status();
}

}  // namespace

const std::vector<StageTypeInfo>& stage_types() {
  static const std::vector<StageTypeInfo> types = {
      {"pretrain-toy",
       "a tiny base model for the built-in tasks: task corpus, BPE tokenizer, random init, short pretraining",
       {{"model", "model"}, {"corpus", "corpus.jsonl"}, {"metrics", "metrics.jsonl"}, {"output_dir", ""}}},
      {"sft", "supervised fine-tuning (r1 sft)",
       {{"model", "model"}, {"metrics", "metrics.jsonl"}, {"output_dir", ""}}},
      {"distill", "SFT with logit distillation from a teacher (r1 sft with distill_alpha > 0)",
       {{"model", "model"}, {"metrics", "metrics.jsonl"}, {"output_dir", ""}}},
      {"rm", "reward-model training on preference pairs (r1 rm train)",
       {{"model", "model"}, {"metrics", "metrics.jsonl"}, {"output_dir", ""}}},
      {"rl", "GRPO reinforcement learning (r1 rl)",
       {{"model", "model"}, {"metrics", "metrics.jsonl"}, {"rollouts", "rollouts.db"}, {"output_dir", ""}}},
      {"on-policy-distill", "on-policy distillation: r1 rl with teacher_model_name_or_path",
       {{"model", "model"}, {"metrics", "metrics.jsonl"}, {"rollouts", "rollouts.db"}, {"output_dir", ""}}},
      {"data", "one JSONL file from parts: files and rows generated from a built-in task (data/data_mix.h)",
       {{"file", "data.jsonl"}, {"output_dir", ""}}},
      {"sample", "rejection sampling (r1 sample)",
       {{"samples", "samples.jsonl"}, {"report", "report.json"}, {"output_dir", ""}}},
      {"eval", "evaluation: pass@1, maj@k, pass@k (r1 eval)",
       {{"eval", "eval.json"}, {"db", "eval.db"}, {"output_dir", ""}}},
  };
  return types;
}

const StageTypeInfo* find_stage_type(const std::string& type) {
  for (const auto& t : stage_types())
    if (type == t.type) return &t;
  return nullptr;
}

int Recipe::find_stage(const std::string& stage_name) const {
  for (size_t i = 0; i < stages.size(); ++i)
    if (stages[i].name == stage_name) return static_cast<int>(i);
  return -1;
}

Result<Recipe> parse_recipe(const std::string& text, const std::string& where,
                            const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, where));
  R1_ASSIGN_OR_RETURN(std::vector<std::string> names, check_structure(doc, where));
  for (const std::string& o : overrides) R1_RETURN_IF_ERROR(apply_override(doc, o, names));

  Recipe r;
  r.where = where;
  r.name = doc.HasMember("name") ? doc["name"].GetString() : fs::path(where).stem().string();
  if (doc.HasMember("description")) r.description = doc["description"].GetString();
  if (doc.HasMember("vars"))
    for (const auto& m : doc["vars"].GetObject()) r.vars.emplace_back(m.name.GetString(), json_to_string(m.value));
  const JsonValue& stages = doc["stages"];
  for (rapidjson::SizeType i = 0; i < stages.Size(); ++i) {
    const JsonValue& s = stages[i];
    RecipeStage stage;
    stage.name = s["name"].GetString();
    stage.type = s["type"].GetString();
    if (s.HasMember("compare_to")) stage.compare_to = s["compare_to"].GetString();
    rapidjson::Value empty(rapidjson::kObjectType);
    const JsonValue& config = s.HasMember("config") ? s["config"] : empty;
    stage.config_json = json_to_string(config);
    R1_RETURN_IF_ERROR(collect_references(config, "stages[" + std::to_string(i) + "].config", stage.references)
                           .with_context(where));
    r.stages.push_back(std::move(stage));
  }
  R1_RETURN_IF_ERROR(check_references(r));
  return r;
}

Result<Recipe> load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  R1_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_recipe(text, path, overrides);
}

std::string recipe_json(const Recipe& r) {
  JsonWriter w;
  w.begin_object().key("name").value(r.name);
  if (!r.description.empty()) w.key("description").value(r.description);
  w.key("vars").begin_object();
  for (const auto& [name, value] : r.vars) w.key(name).raw(value);
  w.end_object().key("stages").begin_array();
  for (const RecipeStage& s : r.stages) {
    w.begin_object().key("name").value(s.name).key("type").value(s.type).key("config").raw(s.config_json);
    if (!s.compare_to.empty()) w.key("compare_to").value(s.compare_to);
    w.end_object();
  }
  w.end_array().end_object();
  return w.str();
}

std::string stage_dir(const std::string& run_dir, const std::string& stage_name) {
  return (fs::path(run_dir) / stage_name).string();
}

std::string stage_where(const Recipe& recipe, size_t index) {
  return recipe.where + ": stages[" + std::to_string(index) + "].config";
}

Result<rapidjson::Document> resolve_stage_config(const Recipe& r, size_t index, const std::string& run_dir) {
  const RecipeStage& stage = r.stages.at(index);
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(stage.config_json, stage_where(r, index)));
  // Values the lookup hands out live in this document, so they outlive the walk.
  rapidjson::Document values(rapidjson::kArrayType);
  auto& va = values.GetAllocator();
  // Room for every lookup up front, so a pointer handed out stays valid.
  values.Reserve(static_cast<rapidjson::SizeType>(stage.references.size()), va);
  Lookup lookup = [&](const Reference& ref) -> Result<const JsonValue*> {
    if (ref.scope == "vars") {
      auto var = std::find_if(r.vars.begin(), r.vars.end(), [&](const auto& v) { return v.first == ref.name; });
      rapidjson::Document parsed(&va);
      parsed.Parse(var->second.c_str());
      if (parsed.IsNull() || (parsed.IsString() && parsed.GetStringLength() == 0))
        return Status::error(r.where + ": " + ref.key + ": " + ref.text + " is not set; give it with --set vars." +
                             ref.name + "=VALUE");
      values.PushBack(rapidjson::Value(parsed, va), va);
    } else {
      const RecipeStage& from = r.stages[r.find_stage(ref.name)];
      for (const StageOutput& o : find_stage_type(from.type)->outputs) {
        if (ref.output != o.name) continue;
        std::string path = stage_dir(run_dir, from.name);
        if (*o.path) path = (fs::path(path) / o.path).string();
        values.PushBack(rapidjson::Value(path.c_str(), va), va);
      }
    }
    return &values[values.Size() - 1];
  };
  R1_RETURN_IF_ERROR(substitute(doc, "stages[" + std::to_string(index) + "].config", lookup, doc.GetAllocator()));
  doc.AddMember("output_dir", rapidjson::Value(stage_dir(run_dir, stage.name).c_str(), doc.GetAllocator()),
                doc.GetAllocator());
  return doc;
}

std::string builtin_recipe_dir() {
  // An installed r1 (<prefix>/bin/r1), then a build folder inside the checkout.
  return resource_dir("R1_RECIPES_DIR", {"../share/r1/recipes", "../pipelines/recipes"});
}

std::vector<std::string> builtin_recipe_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(builtin_recipe_dir(), ec))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::string> find_recipe(const std::string& name_or_path) {
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  std::string name = name_or_path;
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0) name.resize(name.size() - 5);
  std::vector<std::string> names = builtin_recipe_names();
  if (std::find(names.begin(), names.end(), name) != names.end()) return builtin_recipe_dir() + "/" + name + ".json";
  if (names.empty())
    return Status::error("recipe '" + name_or_path + "': no such file, and no built-in recipes were found (set " +
                         "R1_RECIPES_DIR to a folder of recipes)");
  return Status::error("recipe '" + name_or_path + "': no such file, and not a built-in recipe (" + join(names) + ")");
}

std::string first_json_difference(const rapidjson::Value& a, const rapidjson::Value& b, const std::string& prefix) {
  const std::string here = prefix.empty() ? "(the whole value)" : prefix;
  if (a.IsObject() && b.IsObject()) {
    for (const auto& m : a.GetObject()) {
      std::string key = prefix.empty() ? m.name.GetString() : prefix + "." + m.name.GetString();
      auto it = b.FindMember(m.name);
      if (it == b.MemberEnd()) return key;
      std::string d = first_json_difference(m.value, it->value, key);
      if (!d.empty()) return d;
    }
    for (const auto& m : b.GetObject())
      if (!a.HasMember(m.name)) return prefix.empty() ? m.name.GetString() : prefix + "." + m.name.GetString();
    return "";
  }
  if (a.IsArray() && b.IsArray()) {
    for (rapidjson::SizeType i = 0; i < std::max(a.Size(), b.Size()); ++i) {
      std::string key = prefix + "[" + std::to_string(i) + "]";
      if (i >= a.Size() || i >= b.Size()) return key;
      std::string d = first_json_difference(a[i], b[i], key);
      if (!d.empty()) return d;
    }
    return "";
  }
  return a == b ? "" : here;
}

}  // namespace r1
