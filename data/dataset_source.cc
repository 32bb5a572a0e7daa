#include "data/dataset_source.h"

#include <map>

namespace r1 {

namespace {

bool is_task_name(const std::string& name) { return name == "countdown" || name == "arithmetic"; }

Result<Dataset> task_dataset(const TaskOptions& options) {
  R1_ASSIGN_OR_RETURN(std::vector<TaskProblem> problems, generate_tasks(options));
  Dataset ds;
  ds.spec.name = options.task;
  ds.spec.template_name = "r1_zero";
  ds.examples = task_examples(options.task, problems);
  return ds;
}

Result<Dataset> named_source(const std::string& name, const std::string& where) {
  size_t colon = name.find(':');
  std::string base = name.substr(0, colon);
  if (is_task_name(base)) {
    TaskOptions options;
    options.task = base;
    if (colon != std::string::npos) options.split = name.substr(colon + 1);
    R1_RETURN_IF_ERROR(validate_task_options(options).with_context(where));
    return task_dataset(options);
  }
  if (name.size() > 6 && name.ends_with(".jsonl")) {
    DatasetSpec spec;
    spec.path = name;
    return load_dataset(spec);
  }
  Result<DatasetSpec> spec = builtin_dataset_spec(name);
  if (!spec.ok())
    return Status::error(where + ": '" + name +
                         "' is neither a built-in dataset, a task (countdown, arithmetic) nor a .jsonl file (" +
                         spec.status().message() + ")");
  return load_dataset(*spec);
}

}  // namespace

Result<TaskOptions> parse_task_options(const JsonValue& o, const std::string& where) {
  TaskOptions t;
  using Int = int TaskOptions::*;
  const std::map<std::string, Int> ints = {
      {"heldout_percent", &TaskOptions::heldout_percent}, {"min_numbers", &TaskOptions::min_numbers},
      {"max_numbers", &TaskOptions::max_numbers},         {"min_number", &TaskOptions::min_number},
      {"max_number", &TaskOptions::max_number},           {"min_digits", &TaskOptions::min_digits},
      {"max_digits", &TaskOptions::max_digits}};
  for (auto it = o.MemberBegin(); it != o.MemberEnd(); ++it) {
    std::string key = it->name.GetString();
    const JsonValue& v = it->value;
    auto bad = [&](const char* what) { return Status::error(where + ": field '" + key + "' must be " + what); };
    if (key == "task" || key == "split" || key == "ops" || key == "kind") {
      if (!v.IsString()) return bad("a string");
      (key == "task" ? t.task : key == "split" ? t.split : key == "ops" ? t.ops : t.kind) = v.GetString();
    } else if (key == "n" || key == "max_target") {
      if (!v.IsInt64()) return bad("an integer");
      (key == "n" ? t.n : t.max_target) = v.GetInt64();
    } else if (key == "seed") {
      if (!v.IsUint64()) return bad("a non-negative integer");
      t.seed = v.GetUint64();
    } else if (key == "unique") {
      if (!v.IsBool()) return bad("true or false");
      t.unique = v.GetBool();
    } else if (auto f = ints.find(key); f != ints.end()) {
      if (!v.IsInt()) return bad("an integer");
      t.*(f->second) = v.GetInt();
    } else {
      return Status::error(where + ": unknown task key '" + key +
                           "' (known: task, kind, split, n, seed, unique, heldout_percent, min_numbers, "
                           "max_numbers, min_number, max_number, max_target, min_digits, max_digits, ops)");
    }
  }
  R1_RETURN_IF_ERROR(validate_task_options(t).with_context(where));
  return t;
}

std::string task_options_json(const TaskOptions& t) {
  JsonWriter w;
  w.begin_object().key("task").value(t.task).key("kind").value(t.kind).key("split").value(t.split).key("n").value(t.n);
  w.key("seed").value(t.seed).key("unique").value(t.unique);
  w.key("heldout_percent").value(t.heldout_percent).key("min_numbers").value(t.min_numbers);
  w.key("max_numbers").value(t.max_numbers).key("min_number").value(t.min_number);
  w.key("max_number").value(t.max_number).key("max_target").value(t.max_target);
  w.key("min_digits").value(t.min_digits).key("max_digits").value(t.max_digits).key("ops").value(t.ops);
  w.end_object();
  return w.str();
}

Result<Dataset> load_dataset_source(const JsonValue& source, const std::string& where) {
  if (source.IsString()) return named_source(source.GetString(), where);
  if (!source.IsObject())
    return Status::error(where + ": expected a dataset name, a .jsonl path or an object (docs/data.md)");
  if (source.HasMember("task")) {
    R1_ASSIGN_OR_RETURN(TaskOptions options, parse_task_options(source, where));
    return task_dataset(options);
  }
  R1_ASSIGN_OR_RETURN(DatasetSpec spec, parse_dataset_spec(source, where));
  return load_dataset(spec);
}

std::string default_reward_spec(const Dataset& dataset) {
  const std::string& name = dataset.spec.name;
  // HumanEval rows carry the function head and its check(); the built-in
  // template is none, so the program is the prompt plus the completion.
  if (name == "humaneval")
    return R"({"rewards": [{"checker": "code", "name": "accuracy", "params": {"format": "humaneval", "extract": "none"}}]})";
  std::string checker = name == "countdown" ? "countdown" : name.rfind("gsm8k", 0) == 0 ? "gsm8k" : "math";
  return R"({"rewards": [{"checker": ")" + checker + R"(", "name": "accuracy"}]})";
}

}  // namespace r1
