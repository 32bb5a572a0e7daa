#include "data/jsonl_dataset.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "util/jsonl.h"
#include "util/process.h"

namespace r1 {

namespace {

const char* const kSpecKeys[] = {"path",          "name",             "prompt_field", "answer_field",
                                 "id_field",      "system_prompt",    "template",     "answer_extractor",
                                 "reference_fields"};

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
  return out;
}

Status check_spec_keys(const JsonValue& obj, const std::string& where) {
  std::vector<std::string> known(std::begin(kSpecKeys), std::end(kSpecKeys));
  for (const auto& m : obj.GetObject()) {
    std::string key = m.name.GetString();
    if (std::find(known.begin(), known.end(), key) == known.end())
      return Status::error(where + ": unknown key '" + key + "' (known: " + join(known, ", ") + ")");
  }
  return Status();
}

Result<std::optional<std::string>> optional_string(const JsonValue& obj, const char* key, const std::string& where) {
  if (!json_has(obj, key)) return std::optional<std::string>();
  R1_ASSIGN_OR_RETURN(std::string v, json_string(obj, key, where));
  return std::optional<std::string>(std::move(v));
}

Status check_spec(const DatasetSpec& spec, const std::string& where) {
  if (spec.prompt_field.empty()) return Status::error(where + ": field 'prompt_field' must not be empty");
  R1_ASSIGN_OR_RETURN(std::optional<ChatTemplate> tmpl, spec_chat_template(spec.template_name));
  if (!spec.system_prompt.empty() && (!tmpl || tmpl->kind == ChatTemplateKind::kR1Zero))
    return Status::error(where +
                         ": field 'system_prompt' needs a template with a system turn (chatml or llama3), not '" +
                         spec.template_name + "'");
  if (spec.answer_extractor != "none" && spec.answer_extractor != "gsm8k" && spec.answer_extractor != "boxed")
    return Status::error(where + ": unknown answer_extractor '" + spec.answer_extractor +
                         "' (expected none, gsm8k or boxed)");
  if (spec.answer_extractor != "none" && !spec.answer_field)
    return Status::error(where + ": answer_extractor '" + spec.answer_extractor + "' needs an 'answer_field'");
  return Status();
}

std::string strip(const std::string& s) {
  const char* kSpace = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

std::optional<std::string> after_last_hashes(const std::string& text) {
  size_t pos = text.rfind("####");
  if (pos == std::string::npos) return std::nullopt;
  std::string out;
  // Commas are thousands separators in GSM8K ("1,000"); a maths checker
  // would read them as a tuple.
  for (char c : strip(text.substr(pos + 4)))
    if (c != ',') out += c;
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<std::string> last_boxed(const std::string& text) {
  size_t pos = text.rfind("\\boxed");
  if (pos == std::string::npos) return std::nullopt;
  size_t i = pos + 6;
  while (i < text.size() && text[i] == ' ') ++i;
  if (i >= text.size() || text[i] != '{') return std::nullopt;
  int depth = 0;
  for (size_t j = i; j < text.size(); ++j) {
    if (text[j] == '{') ++depth;
    if (text[j] == '}' && --depth == 0) return strip(text.substr(i + 1, j - i - 1));
  }
  return std::nullopt;  // unbalanced braces
}

std::string value_text(const JsonValue& v) { return v.IsString() ? std::string(v.GetString()) : json_to_string(v); }

Result<std::string> row_id(const rapidjson::Document& doc, const DatasetSpec& spec, int64_t index,
                           const std::string& where) {
  if (!spec.id_field) {
    std::string prefix = spec.name.empty() ? std::filesystem::path(spec.path).stem().string() : spec.name;
    return prefix + "-" + std::to_string(index);
  }
  const char* key = spec.id_field->c_str();
  if (!doc.HasMember(key)) return Status::error(where + ": field '" + *spec.id_field + "' is missing");
  const JsonValue& v = doc[key];
  if (!v.IsString() && !v.IsInt64())
    return Status::error(where + ": field '" + *spec.id_field + "' must be a string or an integer");
  return value_text(v);
}

// Fills example.answer and returns the value stored as reference "answer".
Result<rapidjson::Value> row_answer(const rapidjson::Document& doc, const DatasetSpec& spec, Example& example,
                                   rapidjson::Document::AllocatorType& alloc) {
  const std::string& field = *spec.answer_field;
  if (!doc.HasMember(field.c_str())) return Status::error(example.where + ": field '" + field + "' is missing");
  const JsonValue& v = doc[field.c_str()];
  if (spec.answer_extractor == "none") {
    if (!v.IsString() && !v.IsNumber())
      return Status::error(example.where + ": field '" + field + "' must be a string or a number");
    example.answer = value_text(v);
    return rapidjson::Value(v, alloc);
  }
  if (!v.IsString()) return Status::error(example.where + ": field '" + field + "' must be a string");
  R1_ASSIGN_OR_RETURN(std::optional<std::string> found, extract_answer(spec.answer_extractor, v.GetString()));
  if (!found)
    return Status::error(example.where + ": field '" + field + "' has no final answer for answer_extractor '" +
                         spec.answer_extractor + "'");
  example.answer = *found;
  return rapidjson::Value(found->c_str(), alloc);
}

Result<std::string> row_reference(const rapidjson::Document& doc, const DatasetSpec& spec, Example& example) {
  rapidjson::Document ref(rapidjson::kObjectType);
  auto& alloc = ref.GetAllocator();
  auto keep = [&](const JsonValue& name, const JsonValue& value) {
    ref.AddMember(rapidjson::Value(name, alloc), rapidjson::Value(value, alloc), alloc);
  };
  if (spec.reference_fields) {
    for (const std::string& f : *spec.reference_fields) {
      auto it = doc.FindMember(f.c_str());
      if (it == doc.MemberEnd()) return Status::error(example.where + ": reference field '" + f + "' is missing");
      keep(it->name, it->value);
    }
  } else {
    for (const auto& m : doc.GetObject())
      if (spec.prompt_field != m.name.GetString()) keep(m.name, m.value);
  }
  if (spec.answer_field) {
    R1_ASSIGN_OR_RETURN(rapidjson::Value answer, row_answer(doc, spec, example, alloc));
    ref.RemoveMember("answer");
    ref.AddMember("answer", answer, alloc);
  }
  return json_to_string(ref);
}

// A row without the prompt field: most often a file whose prompts sit under
// another name (GSM8K's "question"), so the error lists the row's fields and
// says how to name it.
Status missing_prompt(const rapidjson::Document& doc, const std::string& field, const std::string& where) {
  std::string fields;
  for (const auto& m : doc.GetObject())
    fields += std::string(fields.empty() ? "" : ", ") + "'" + m.name.GetString() + "'";
  return Status::error(where + ": field '" + field + "' is missing (the row has " +
                       (fields.empty() ? std::string("no fields") : fields) +
                       "; a dataset spec names the prompt's field: {\"path\": ..., \"prompt_field\": ...}, "
                       "docs/data.md)");
}

Result<Example> row_example(const rapidjson::Document& doc, const DatasetSpec& spec, int64_t index,
                            const std::string& where) {
  if (!doc.HasMember(spec.prompt_field.c_str())) return missing_prompt(doc, spec.prompt_field, where);
  Example e;
  e.index = index;
  e.where = where;
  e.system = spec.system_prompt;
  R1_ASSIGN_OR_RETURN(e.prompt, json_string(doc, spec.prompt_field.c_str(), where));
  R1_ASSIGN_OR_RETURN(e.id, row_id(doc, spec, index, where));
  R1_ASSIGN_OR_RETURN(e.reference_json, row_reference(doc, spec, e));
  return e;
}

struct BuiltinDataset {
  const char* name;
  const char* file;  // under data_root()
  const char* prompt_field;
  const char* answer_field;  // "" for none
  const char* id_field;      // "" for none
  const char* extractor;
  const char* template_name;
  std::vector<std::string> reference_fields;  // empty: all but the prompt
};

const std::vector<BuiltinDataset>& builtin_datasets() {
  static const std::vector<BuiltinDataset> kSets = {
      {"gsm8k", "gsm8k/train.jsonl", "question", "answer", "", "gsm8k", "r1_zero", {}},
      {"gsm8k_test", "gsm8k/test.jsonl", "question", "answer", "", "gsm8k", "r1_zero", {}},
      {"math500", "math500/test.jsonl", "problem", "answer", "unique_id", "none", "r1_zero", {}},
      {"aime24", "aime24/test.jsonl", "problem", "answer", "id", "none", "r1_zero", {}},
      {"amc23", "amc23/test.jsonl", "problem", "answer", "id", "none", "r1_zero", {}},
      {"minerva_math", "minerva_math/test.jsonl", "problem", "solution", "", "boxed", "r1_zero", {}},
      // HumanEval is a completion benchmark: the prompt is the function head,
      // and the code checker's humaneval format needs it back as a reference.
      {"humaneval", "humaneval/HumanEval.jsonl", "prompt", "", "task_id", "none", "none",
       {"task_id", "prompt", "entry_point", "test"}},
  };
  return kSets;
}

}  // namespace

Result<std::optional<ChatTemplate>> spec_chat_template(const std::string& name) {
  if (name == "none") return std::optional<ChatTemplate>();
  Result<ChatTemplate> t = parse_chat_template(name);
  if (!t.ok()) return Status::error("unknown template '" + name + "' (expected r1_zero, chatml, llama3 or none)");
  return std::optional<ChatTemplate>(*t);
}

Result<std::optional<std::string>> extract_answer(const std::string& extractor, const std::string& text) {
  if (extractor == "none") return std::optional<std::string>(text);
  if (extractor == "gsm8k") return after_last_hashes(text);
  if (extractor == "boxed") return last_boxed(text);
  return Status::error("unknown answer_extractor '" + extractor + "' (expected none, gsm8k or boxed)");
}

Result<DatasetSpec> parse_dataset_spec(const JsonValue& obj, const std::string& where) {
  if (!obj.IsObject()) return Status::error(where + ": a dataset spec must be a JSON object");
  R1_RETURN_IF_ERROR(check_spec_keys(obj, where));
  DatasetSpec s;
  R1_ASSIGN_OR_RETURN(s.path, json_string(obj, "path", where));
  R1_ASSIGN_OR_RETURN(s.name, json_string_or(obj, "name", "", where));
  R1_ASSIGN_OR_RETURN(s.prompt_field, json_string_or(obj, "prompt_field", s.prompt_field, where));
  R1_ASSIGN_OR_RETURN(s.answer_field, optional_string(obj, "answer_field", where));
  R1_ASSIGN_OR_RETURN(s.id_field, optional_string(obj, "id_field", where));
  R1_ASSIGN_OR_RETURN(s.system_prompt, json_string_or(obj, "system_prompt", "", where));
  if (json_has(obj, "reference_fields")) {
    R1_ASSIGN_OR_RETURN(s.reference_fields, json_string_array(obj, "reference_fields", where));
  }
  R1_ASSIGN_OR_RETURN(s.template_name, json_string_or(obj, "template", s.template_name, where));
  R1_ASSIGN_OR_RETURN(s.answer_extractor, json_string_or(obj, "answer_extractor", s.answer_extractor, where));
  R1_RETURN_IF_ERROR(check_spec(s, where));
  return s;
}

Result<DatasetSpec> read_dataset_spec(const std::string& path) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(path));
  return parse_dataset_spec(doc, path);
}

Result<Dataset> load_dataset(const DatasetSpec& spec) {
  R1_RETURN_IF_ERROR(check_spec(spec, spec.path));
  R1_ASSIGN_OR_RETURN(JsonlReader reader, JsonlReader::open(spec.path));
  Dataset ds;
  ds.spec = spec;
  for (;;) {
    rapidjson::Document doc;
    R1_ASSIGN_OR_RETURN(bool more, reader.next(doc));
    if (!more) break;
    R1_ASSIGN_OR_RETURN(Example e, row_example(doc, spec, static_cast<int64_t>(ds.examples.size()), reader.where()));
    ds.examples.push_back(std::move(e));
  }
  if (ds.examples.empty()) return Status::error(spec.path + ": the dataset has no rows");
  return ds;
}

std::string data_root() {
  // An installed r1 (<prefix>/bin/r1), then a build folder inside a checkout
  // that has shared/ beside it.
  std::string dir = resource_dir("R1_DATA_DIR", {"../share/r1/data", "../../shared/data"});
  return dir.empty() ? (std::filesystem::path(executable_dir()) / "../share/r1/data").lexically_normal().string() : dir;
}

std::vector<std::string> builtin_dataset_names() {
  std::vector<std::string> names;
  for (const auto& b : builtin_datasets()) names.push_back(b.name);
  return names;
}

Result<DatasetSpec> builtin_dataset_spec(const std::string& name) {
  for (const auto& b : builtin_datasets()) {
    if (name != b.name) continue;
    DatasetSpec s;
    s.path = (std::filesystem::path(data_root()) / b.file).string();
    s.name = b.name;
    s.prompt_field = b.prompt_field;
    if (*b.answer_field) s.answer_field = b.answer_field;
    if (*b.id_field) s.id_field = b.id_field;
    s.answer_extractor = b.extractor;
    s.template_name = b.template_name;
    if (!b.reference_fields.empty()) s.reference_fields = b.reference_fields;
    return s;
  }
  return Status::error("unknown dataset '" + name + "' (built-in: " + join(builtin_dataset_names(), ", ") + ")");
}

Result<std::string> render_prompt(const Example& example, const ChatTemplate& tmpl) {
  std::vector<ChatMessage> messages;
  if (!example.system.empty()) {
    if (tmpl.kind == ChatTemplateKind::kR1Zero)
      return Status::error(example.where + ": the r1_zero template has no system message; use chatml or llama3");
    messages.push_back({"system", example.system});
  }
  messages.push_back({"user", example.prompt});
  Result<std::string> text = render_chat(tmpl, messages, /*add_generation_prompt=*/true);
  if (!text.ok()) return text.status().with_context(example.where);
  return text;
}

Result<std::string> render_prompt(const Example& example, const std::optional<ChatTemplate>& tmpl) {
  if (tmpl) return render_prompt(example, *tmpl);
  if (!example.system.empty())
    return Status::error(example.where + ": template 'none' cannot show a system message");
  return example.prompt;
}

Result<rapidjson::Document> reference_document(const Example& example) {
  return parse_json(example.reference_json, example.where.empty() ? example.id : example.where);
}

}  // namespace r1
