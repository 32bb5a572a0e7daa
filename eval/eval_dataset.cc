#include "eval/eval_dataset.h"

#include <filesystem>

#include "data/dataset_source.h"
#include "data/jsonl_dataset.h"
#include "util/json.h"

namespace r1 {

namespace {

// MBPP's test split (Austin et al. 2021): task ids 11..510; 1..10 are the
// few-shot prompts, 511..600 validation, 601..974 train.
constexpr int64_t kMbppFirstTest = 11;
constexpr int64_t kMbppLastTest = 510;

// How the examples were named decides the defaults.
enum class Kind { kNamed, kFile, kHumanEval, kMbpp };

struct Loaded {
  Dataset dataset;
  Kind kind = Kind::kNamed;
  std::string label;
};

// MBPP rows only say what to write; the tests fix the function's name and
// signature, so the prompt shows them (the paper's prompt) and asks for the
// code block the checker extracts.
Result<Dataset> mbpp() {
  DatasetSpec spec;
  spec.path = (std::filesystem::path(data_root()) / "mbpp" / "mbpp.jsonl").string();
  spec.name = "mbpp";
  spec.prompt_field = "text";
  spec.id_field = "task_id";
  spec.reference_fields = std::vector<std::string>{"task_id", "test_setup_code", "test_list"};
  R1_ASSIGN_OR_RETURN(Dataset ds, load_dataset(spec));
  std::vector<Example> test;
  for (Example& e : ds.examples) {
    R1_ASSIGN_OR_RETURN(rapidjson::Document ref, reference_document(e));
    R1_ASSIGN_OR_RETURN(int64_t id, json_int(ref, "task_id", e.where));
    if (id < kMbppFirstTest || id > kMbppLastTest) continue;
    R1_ASSIGN_OR_RETURN(std::vector<std::string> tests, json_string_array(ref, "test_list", e.where));
    std::string shown;
    for (const auto& t : tests) shown += t + "\n";
    e.prompt = "You are an expert Python programmer, and here is your task: " + e.prompt +
               " Your code should pass these tests:\n\n" + shown + "\nWrite the code in a ```python code block";
    test.push_back(std::move(e));
  }
  if (test.empty())
    return Status::error(spec.path + ": no rows with task_id " + std::to_string(kMbppFirstTest) + ".." +
                         std::to_string(kMbppLastTest) + " (MBPP's test split)");
  ds.examples = std::move(test);
  return ds;
}

std::string file_label(const DatasetSpec& spec) {
  return spec.name.empty() ? std::filesystem::path(spec.path).stem().string() : spec.name;
}

Result<Loaded> load(const EvalConfig& c) {
  Loaded out;
  const std::string where = "field 'dataset'";
  if (c.dataset == "mbpp") {
    R1_ASSIGN_OR_RETURN(out.dataset, mbpp());
    out.kind = Kind::kMbpp;
    out.label = "mbpp";
    return out;
  }
  rapidjson::Document source;
  if (c.dataset_object.empty()) {
    source.SetString(c.dataset.c_str(), static_cast<rapidjson::SizeType>(c.dataset.size()), source.GetAllocator());
  } else {
    R1_ASSIGN_OR_RETURN(source, parse_json(c.dataset_object, where));
  }
  Result<Dataset> loaded = load_dataset_source(source, where);
  if (!loaded.ok() && source.IsString() && !c.dataset.ends_with(".jsonl"))
    return Status::error(loaded.status().message() + "; r1 eval also knows 'mbpp'");
  R1_ASSIGN_OR_RETURN(out.dataset, std::move(loaded));
  const DatasetSpec& spec = out.dataset.spec;
  if (source.IsObject() && source.HasMember("task")) {
    R1_ASSIGN_OR_RETURN(std::string split, json_string_or(source, "split", "train", where));
    out.label = spec.name + ":" + split;
  } else if (source.IsObject() || c.dataset.ends_with(".jsonl")) {
    out.kind = Kind::kFile;
    out.label = file_label(spec);
  } else {
    out.kind = c.dataset == "humaneval" ? Kind::kHumanEval : Kind::kNamed;
    out.label = c.dataset;
  }
  return out;
}

std::string accuracy_spec(const std::string& checker, const std::string& params) {
  return R"({"rewards": [{"checker": ")" + checker + R"(", "name": "accuracy", "params": )" + params + "}]}";
}

// default_reward_spec would score every file with the math checker; a file's
// rows say which checker fits by the reference fields they carry.
Result<std::string> file_reward(const Dataset& ds) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document ref, reference_document(ds.examples.front()));
  if (json_has(ref, "answer")) return default_reward_spec(ds);
  if (json_has(ref, "numbers") && json_has(ref, "target")) return accuracy_spec("countdown", "{}");
  if (json_has(ref, "tests")) return accuracy_spec("code", "{}");
  return Status::error(ds.spec.path + ": cannot choose a reward checker: the rows have no 'answer', 'numbers' + "
                       "'target' or 'tests' field; set 'reward' to a reward spec");
}

Result<std::string> default_reward(const Loaded& l, const std::string& template_name) {
  switch (l.kind) {
    case Kind::kNamed: return default_reward_spec(l.dataset);
    case Kind::kFile: return file_reward(l.dataset);
    // A bare completion continues the prompt's function head; a chat model
    // writes the whole function in a code block, which may redefine the head.
    case Kind::kHumanEval:
      return accuracy_spec("code", template_name == "none" ? R"({"format": "humaneval", "extract": "none"})"
                                                           : R"({"format": "humaneval"})");
    case Kind::kMbpp: return accuracy_spec("code", R"({"format": "mbpp"})");
  }
  return Status::error("unknown dataset kind");
}

}  // namespace

const std::vector<std::string>& humaneval_stop_strings() {
  static const std::vector<std::string> kStops = {"\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```"};
  return kStops;
}

Result<EvalDataset> load_eval_dataset(const EvalConfig& config) {
  R1_RETURN_IF_ERROR(validate_eval_config(config));
  R1_ASSIGN_OR_RETURN(Loaded l, load(config));
  EvalDataset ds;
  ds.label = l.label;
  ds.source = l.dataset.spec.path.empty() ? "generated" : l.dataset.spec.path;
  ds.total_examples = static_cast<int64_t>(l.dataset.examples.size());
  ds.template_name = config.template_name.empty() ? l.dataset.spec.template_name : config.template_name;
  if (l.kind == Kind::kHumanEval && ds.template_name == "none") ds.stop = humaneval_stop_strings();
  if (config.stop) ds.stop = *config.stop;
  if (!config.reward.empty()) {
    ds.reward_spec = config.reward;
  } else {
    R1_ASSIGN_OR_RETURN(ds.reward_spec, default_reward(l, ds.template_name));
  }
  ds.examples = std::move(l.dataset.examples);
  if (config.limit > 0 && config.limit < ds.total_examples) ds.examples.resize(static_cast<size_t>(config.limit));
  return ds;
}

}  // namespace r1
