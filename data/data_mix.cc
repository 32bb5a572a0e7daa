#include "data/data_mix.h"

#include <filesystem>

#include "data/builtin_tasks.h"
#include "data/dataset_source.h"
#include "util/json.h"
#include "util/jsonl.h"

namespace r1 {

namespace {

bool is_list(const JsonValue& v) { return v.IsArray(); }

constexpr const char* kPartForms =
    "a part is a JSONL path, a task object {\"task\": ..., \"form\": ...} or a dataset object {\"dataset\": "
    "SOURCE, \"fields\": {...}}";

// A dataset source's examples as rows a dataset loads back with the default
// mapping: id, prompt, system (when set), the reference fields (the
// extracted answer among them), then `fields`, which override.
Result<std::vector<std::string>> dataset_rows(const JsonValue& part, const std::string& where) {
  for (auto it = part.MemberBegin(); it != part.MemberEnd(); ++it) {
    std::string key = it->name.GetString();
    if (key != "dataset" && key != "fields")
      return Status::error(where + ": unknown key '" + key + "' in a dataset part (known: dataset, fields)");
  }
  const JsonValue* fields = part.HasMember("fields") ? &part["fields"] : nullptr;
  if (fields && !fields->IsObject()) return Status::error(where + ": field 'fields' must be an object");
  R1_ASSIGN_OR_RETURN(Dataset ds, load_dataset_source(part["dataset"], where + ".dataset"));
  std::vector<std::string> rows;
  for (const Example& e : ds.examples) {
    R1_ASSIGN_OR_RETURN(rapidjson::Document reference, parse_json(e.reference_json, e.where));
    rapidjson::Document row(rapidjson::kObjectType);
    auto& a = row.GetAllocator();
    auto set = [&](const std::string& key, const JsonValue& value) {
      row.RemoveMember(key.c_str());
      row.AddMember(rapidjson::Value(key.c_str(), a), rapidjson::Value(value, a), a);
    };
    set("id", rapidjson::Value(e.id.c_str(), a));
    set("prompt", rapidjson::Value(e.prompt.c_str(), a));
    if (!e.system.empty()) set("system", rapidjson::Value(e.system.c_str(), a));
    for (auto it = reference.MemberBegin(); it != reference.MemberEnd(); ++it) set(it->name.GetString(), it->value);
    if (fields)
      for (auto it = fields->MemberBegin(); it != fields->MemberEnd(); ++it) set(it->name.GetString(), it->value);
    rows.push_back(json_to_string(row));
  }
  return rows;
}

// A part's rows, each one compact JSON object.
Result<std::vector<std::string>> part_rows(const JsonValue& part, const std::string& where) {
  if (part.IsString()) {
    R1_ASSIGN_OR_RETURN(JsonlReader reader, JsonlReader::open(part.GetString()));
    std::vector<std::string> rows;
    rapidjson::Document doc;
    while (true) {
      Result<bool> more = reader.next(doc);
      if (!more.ok()) return more.status().with_context(where);
      if (!*more) break;
      rows.push_back(json_to_string(doc));
    }
    if (rows.empty()) return Status::error(where + ": " + part.GetString() + " has no rows");
    return rows;
  }
  if (part.IsObject() && part.HasMember("dataset")) return dataset_rows(part, where);
  if (!part.IsObject() || !part.HasMember("task")) return Status::error(where + ": " + kPartForms);
  rapidjson::Document options;
  options.CopyFrom(part, options.GetAllocator());
  std::string form = "rows";
  if (options.HasMember("form")) {
    if (!options["form"].IsString()) return Status::error(where + ": field 'form' must be rows, sft or preferences");
    form = options["form"].GetString();
    options.RemoveMember("form");
  }
  R1_ASSIGN_OR_RETURN(TaskOptions task, parse_task_options(options, where));
  Result<std::vector<std::string>> rows = task_rows_json(task, form);
  if (!rows.ok()) return rows.status().with_context(where);
  return rows;
}

Status validate(DataMixConfig& c) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document parts, parse_json(c.parts, "field 'parts'"));
  for (rapidjson::SizeType i = 0; i < parts.Size(); ++i)
    if (!parts[i].IsString() && !(parts[i].IsObject() && (parts[i].HasMember("task") || parts[i].HasMember("dataset"))))
      return Status::error("parts[" + std::to_string(i) + "]: " + kPartForms);
  return Status();
}

}  // namespace

const ConfigFields<DataMixConfig>& data_mix_config_fields() {
  using C = DataMixConfig;
  static const ConfigFields<C> fields =
      ConfigFields<C>("data config", validate)
          .add_json("parts", &C::parts, "a list of parts",
                    "JSONL paths (copied row by row), task objects (TaskOptions keys plus \"form\": rows, sft or "
                    "preferences) and dataset objects ({\"dataset\": a dataset source, \"fields\": {...} set on "
                    "every row}); rows keep the parts' order (docs/data.md)",
                    is_list)
          .required()
          .add("output_dir", &C::output_dir, "where data.jsonl is written")
          .required();
  return fields;
}

Status check_data_mix_inputs(const DataMixConfig& c, bool check_files) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document parts, parse_json(c.parts, "field 'parts'"));
  for (rapidjson::SizeType i = 0; i < parts.Size(); ++i) {
    std::string where = "parts[" + std::to_string(i) + "]";
    if (parts[i].IsObject() && parts[i].HasMember("dataset")) {
      // Loading reads files; a dataset an earlier stage writes is checked when it runs.
      if (check_files) R1_RETURN_IF_ERROR(part_rows(parts[i], where).status());
      continue;
    }
    if (!parts[i].IsString()) {
      R1_RETURN_IF_ERROR(part_rows(parts[i], where).status());
      continue;
    }
    std::string path = parts[i].GetString();
    if (check_files && !std::filesystem::is_regular_file(path)) return Status::error(where + ": no such file: " + path);
  }
  return Status();
}

Result<DataMixSummary> run_data_mix(const DataMixConfig& c) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document parts, parse_json(c.parts, "field 'parts'"));
  DataMixSummary summary;
  summary.file = c.output_dir + "/data.jsonl";
  std::filesystem::create_directories(c.output_dir);
  R1_ASSIGN_OR_RETURN(JsonlWriter writer, JsonlWriter::open(summary.file));
  for (rapidjson::SizeType i = 0; i < parts.Size(); ++i) {
    R1_ASSIGN_OR_RETURN(std::vector<std::string> rows, part_rows(parts[i], "parts[" + std::to_string(i) + "]"));
    for (const std::string& row : rows) R1_RETURN_IF_ERROR(writer.write(row));
    summary.part_rows.push_back(static_cast<int64_t>(rows.size()));
    summary.rows += static_cast<int64_t>(rows.size());
  }
  R1_RETURN_IF_ERROR(writer.commit());
  return summary;
}

}  // namespace r1
