#include "reward/code_formats.h"

namespace r1 {
namespace {

Result<std::vector<std::string>> string_list(const JsonValue& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  if (!json_has(obj, key)) return out;
  const JsonValue& v = obj[key];
  if (!v.IsArray()) return Status::error(where + ": field '" + key + "' must be an array of strings");
  for (const auto& x : v.GetArray()) {
    if (!x.IsString()) return Status::error(where + ": field '" + key + "' must be an array of strings");
    out.emplace_back(x.GetString(), x.GetStringLength());
  }
  return out;
}

// The model's answer when present, else the dataset's reference solution.
Result<std::string> solution_text(const JsonValue& row, const char* reference, const std::string& where) {
  if (json_has(row, "completion")) return json_string(row, "completion", where);
  return json_string(row, reference, where);
}

Result<std::vector<IoCase>> io_cases(const JsonValue& tests, const std::string& where) {
  std::vector<IoCase> out;
  if (!json_has(tests, "io")) return out;
  const JsonValue& io = tests["io"];
  if (!io.IsArray()) return Status::error(where + ": field 'tests.io' must be an array of {input, output}");
  for (rapidjson::SizeType i = 0; i < io.Size(); ++i) {
    std::string at = where + ": tests.io[" + std::to_string(i) + "]";
    if (!io[i].IsObject()) return Status::error(at + " must be an object {input, output}");
    IoCase c;
    R1_ASSIGN_OR_RETURN(c.input, json_string_or(io[i], "input", "", at));
    R1_ASSIGN_OR_RETURN(c.output, json_string(io[i], "output", at));
    out.push_back(std::move(c));
  }
  return out;
}

Result<CodeProblem> generic_row(const JsonValue& row, const std::string& where) {
  CodeProblem p;
  R1_ASSIGN_OR_RETURN(p.program, json_string(row, "program", where));
  if (!json_has(row, "tests") || !row["tests"].IsObject())
    return Status::error(where + ": field 'tests' must be an object {io, setup, asserts, entry_point}");
  const JsonValue& t = row["tests"];
  R1_ASSIGN_OR_RETURN(p.tests.io, io_cases(t, where));
  R1_ASSIGN_OR_RETURN(p.tests.setup, json_string_or(t, "setup", "", where + ": tests"));
  R1_ASSIGN_OR_RETURN(p.tests.asserts, string_list(t, "asserts", where + ": tests"));
  R1_ASSIGN_OR_RETURN(p.tests.entry_point, json_string_or(t, "entry_point", "", where + ": tests"));
  if (p.tests.io.empty() && p.tests.asserts.empty() && p.tests.entry_point.empty())
    return Status::error(where + ": 'tests' has no io cases, asserts or entry_point");
  return p;
}

Result<CodeProblem> humaneval_row(const JsonValue& row, const std::string& where) {
  CodeProblem p;
  R1_ASSIGN_OR_RETURN(std::string prompt, json_string(row, "prompt", where));
  R1_ASSIGN_OR_RETURN(std::string solution, solution_text(row, "canonical_solution", where));
  p.program = prompt + solution;
  R1_ASSIGN_OR_RETURN(p.tests.setup, json_string(row, "test", where));
  R1_ASSIGN_OR_RETURN(p.tests.entry_point, json_string(row, "entry_point", where));
  if (p.tests.entry_point.empty()) return Status::error(where + ": field 'entry_point' must not be empty");
  return p;
}

Result<CodeProblem> mbpp_row(const JsonValue& row, const std::string& where) {
  CodeProblem p;
  R1_ASSIGN_OR_RETURN(p.program, solution_text(row, "code", where));
  R1_ASSIGN_OR_RETURN(p.tests.setup, json_string_or(row, "test_setup_code", "", where));
  R1_ASSIGN_OR_RETURN(p.tests.asserts, string_list(row, "test_list", where));
  if (p.tests.asserts.empty()) return Status::error(where + ": field 'test_list' must be a non-empty array of strings");
  return p;
}

}  // namespace

Result<CodeRowFormat> parse_code_row_format(const std::string& name) {
  if (name == "generic") return CodeRowFormat::generic;
  if (name == "humaneval") return CodeRowFormat::humaneval;
  if (name == "mbpp") return CodeRowFormat::mbpp;
  return Status::error("unknown row format '" + name + "' (expected generic, humaneval or mbpp)");
}

Result<CodeProblem> code_problem_from_row(const JsonValue& row, CodeRowFormat format, const std::string& where) {
  if (!row.IsObject()) return Status::error(where + ": expected a JSON object");
  switch (format) {
    case CodeRowFormat::generic: return generic_row(row, where);
    case CodeRowFormat::humaneval: return humaneval_row(row, where);
    case CodeRowFormat::mbpp: return mbpp_row(row, where);
  }
  return Status::error(where + ": unknown format");
}

std::string code_row_id(const JsonValue& row) {
  for (const char* key : {"id", "task_id"}) {
    if (!row.IsObject() || !row.HasMember(key)) continue;
    const JsonValue& v = row[key];
    if (v.IsString()) return v.GetString();
    if (v.IsInt64()) return std::to_string(v.GetInt64());
  }
  return "";
}

}  // namespace r1
