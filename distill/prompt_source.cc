#include "distill/prompt_source.h"

#include <filesystem>
#include <variant>

#include "data/builtin_tasks.h"
#include "reward/checker_params.h"

namespace r1 {

namespace {

bool is_task(const std::string& name) { return name == "countdown" || name == "arithmetic"; }

bool is_builtin(const std::string& name) {
  for (const auto& n : builtin_dataset_names())
    if (n == name) return true;
  return false;
}

std::string known_names() {
  std::string out = "countdown, arithmetic";
  for (const auto& n : builtin_dataset_names()) out += ", " + n;
  return out;
}

// {"task": ..., plus any TaskOptions field}; unknown keys are errors.
Result<TaskOptions> parse_task(const JsonValue& obj, const std::string& where) {
  CheckerParams p(&obj, where);
  TaskOptions t;
  R1_ASSIGN_OR_RETURN(t.task, p.string("task", t.task));
  R1_ASSIGN_OR_RETURN(t.split, p.string("split", t.split));
  R1_ASSIGN_OR_RETURN(t.n, p.integer("n", t.n));
  R1_ASSIGN_OR_RETURN(int64_t seed, p.integer("seed", 0));
  t.seed = static_cast<uint64_t>(seed);
  R1_ASSIGN_OR_RETURN(t.unique, p.boolean("unique", t.unique));
  auto small_int = [&](const char* key, int& field) -> Status {
    R1_ASSIGN_OR_RETURN(int64_t v, p.integer(key, field));
    field = static_cast<int>(v);
    return Status();
  };
  R1_RETURN_IF_ERROR(small_int("heldout_percent", t.heldout_percent));
  R1_RETURN_IF_ERROR(small_int("min_numbers", t.min_numbers));
  R1_RETURN_IF_ERROR(small_int("max_numbers", t.max_numbers));
  R1_RETURN_IF_ERROR(small_int("min_number", t.min_number));
  R1_RETURN_IF_ERROR(small_int("max_number", t.max_number));
  R1_ASSIGN_OR_RETURN(t.max_target, p.integer("max_target", t.max_target));
  R1_RETURN_IF_ERROR(small_int("min_digits", t.min_digits));
  R1_RETURN_IF_ERROR(small_int("max_digits", t.max_digits));
  R1_ASSIGN_OR_RETURN(t.ops, p.string("ops", t.ops));
  R1_RETURN_IF_ERROR(p.check_no_unknown());
  Status valid = validate_task_options(t);
  if (!valid.ok()) return valid.with_context(where);
  return t;
}

struct Resolved {
  std::variant<TaskOptions, DatasetSpec> source;
  std::string builtin;  // the built-in dataset's name, "" otherwise
};

Result<Resolved> resolve(const JsonValue& value, const std::string& where) {
  if (value.IsString()) {
    std::string s = value.GetString();
    if (is_task(s)) {
      TaskOptions t;
      t.task = s;
      return Resolved{t, ""};
    }
    R1_ASSIGN_OR_RETURN(DatasetSpec spec, dataset_spec_from_json(value, where));
    return Resolved{spec, is_builtin(s) ? s : ""};
  }
  if (value.IsObject() && value.HasMember("task")) {
    R1_ASSIGN_OR_RETURN(TaskOptions t, parse_task(value, where));
    return Resolved{t, ""};
  }
  R1_ASSIGN_OR_RETURN(DatasetSpec spec, dataset_spec_from_json(value, where));
  return Resolved{spec, ""};
}

std::string default_reward_for(const std::string& task_or_builtin) {
  if (task_or_builtin == "countdown") return R"({"rewards": [{"checker": "countdown"}]})";
  if (task_or_builtin == "humaneval") return R"({"rewards": [{"checker": "code", "params": {"format": "humaneval"}}]})";
  if (task_or_builtin.empty()) return "";
  return R"({"rewards": [{"checker": "math"}]})";  // arithmetic and the maths sets
}

}  // namespace

Result<DatasetSpec> dataset_spec_from_json(const JsonValue& value, const std::string& where) {
  if (value.IsObject()) return parse_dataset_spec(value, where);
  if (!value.IsString())
    return Status::error(where + " must be a dataset name, a .jsonl path or a dataset spec object");
  std::string s = value.GetString();
  if (is_builtin(s)) return builtin_dataset_spec(s);
  if (std::filesystem::is_regular_file(s)) {
    DatasetSpec spec;
    spec.path = s;
    return spec;
  }
  return Status::error(where + ": '" + s + "' is neither a file nor a known dataset (" + known_names() + ")");
}

Status check_prompt_source(const JsonValue& value, const std::string& where) {
  return resolve(value, where).status();
}

Result<PromptSource> load_prompt_source(const JsonValue& value, const std::string& where) {
  R1_ASSIGN_OR_RETURN(Resolved r, resolve(value, where));
  PromptSource out;
  if (const auto* task = std::get_if<TaskOptions>(&r.source)) {
    Result<std::vector<TaskProblem>> problems = generate_tasks(*task);
    if (!problems.ok()) return problems.status().with_context(where);
    out.name = task->task;
    out.template_name = "r1_zero";
    out.examples = task_examples(task->task, *problems);
    out.default_reward = default_reward_for(task->task);
    return out;
  }
  const DatasetSpec& spec = std::get<DatasetSpec>(r.source);
  R1_ASSIGN_OR_RETURN(Dataset ds, load_dataset(spec));
  out.name = spec.name.empty() ? std::filesystem::path(spec.path).stem().string() : spec.name;
  out.template_name = spec.template_name;
  out.examples = std::move(ds.examples);
  out.default_reward = default_reward_for(r.builtin);
  return out;
}

}  // namespace r1
