#include "reward/code_reward.h"

#include "reward/code_checker.h"
#include "reward/code_formats.h"
#include "reward/pcre_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace r1 {

namespace {

class CodeChecker : public RewardChecker {
 public:
  CodeChecker(CodeRowFormat format, bool extract, CodeCheckOptions options)
      : format_(format), extract_(extract), options_(std::move(options)) {}

  Result<RewardScore> score(const RewardInput& input) const override {
    std::string program = extract_ ? extract_python_block(input.completion) : input.completion;
    R1_ASSIGN_OR_RETURN(CodeProblem problem, problem_of(input, program));
    R1_ASSIGN_OR_RETURN(CheckResult result, check_code(problem, options_));
    JsonWriter w;
    w.begin_object().key("passed").value(result.passed).key("total").value(static_cast<int64_t>(result.tests.size()));
    w.key("tests").begin_array();
    for (const TestResult& t : result.tests) {
      w.begin_object().key("name").value(t.name).key("status").value(test_status_name(t.status));
      w.key("detail").value(t.detail).end_object();
    }
    w.end_array().end_object();
    return RewardScore{result.score, w.str()};
  }
  // The row's tests in its format, read as scoring reads them; nothing runs.
  Status check_reference(const RewardInput& row) const override { return problem_of(row, "").status(); }

 private:
  // The problem of the input's reference row with `program` as the candidate.
  Result<CodeProblem> problem_of(const RewardInput& input, const std::string& program) const {
    if (input.reference == nullptr || !input.reference->IsObject())
      return Status::error(input.where + ": no reference row to read the tests from");
    // The row formats read the program from "program" (generic) or
    // "completion" (humaneval, mbpp): hand them a copy carrying ours.
    rapidjson::Document row;
    row.CopyFrom(*input.reference, row.GetAllocator());
    const char* key = format_ == CodeRowFormat::generic ? "program" : "completion";
    row.RemoveMember(key);
    row.AddMember(rapidjson::StringRef(key), rapidjson::Value(program.c_str(), row.GetAllocator()),
                  row.GetAllocator());
    return code_problem_from_row(row, format_, input.where);
  }

  CodeRowFormat format_;
  bool extract_;
  CodeCheckOptions options_;
};

}  // namespace

std::string extract_python_block(std::string_view completion) {
  static const PcreRegex kBlock = PcreRegex::must_compile("```python\\n(.*?)```", PCRE2_DOTALL);
  Result<std::vector<RegexMatch>> all = kBlock.find_all(completion);
  if (!all.ok() || all->empty()) return "";
  return std::string(all->back().group(completion, 1));
}

Result<std::unique_ptr<RewardChecker>> make_code_checker(CheckerParams& params) {
  CodeCheckOptions o;
  R1_ASSIGN_OR_RETURN(std::string format_name, params.string("format", "generic"));
  R1_ASSIGN_OR_RETURN(std::string extract, params.string("extract", "python_block"));
  R1_ASSIGN_OR_RETURN(o.sandbox.timeout_s, params.number("timeout_s", o.sandbox.timeout_s));
  R1_ASSIGN_OR_RETURN(o.sandbox.memory_mb, params.integer("memory_mb", o.sandbox.memory_mb));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  Result<CodeRowFormat> format = parse_code_row_format(format_name);
  if (!format.ok()) return params.error("param 'format': " + format.status().message());
  if (extract != "python_block" && extract != "none")
    return params.error("param 'extract' must be \"python_block\" or \"none\"");
  if (o.sandbox.timeout_s <= 0) return params.error("param 'timeout_s' must be positive");
  return std::unique_ptr<RewardChecker>(new CodeChecker(*format, extract == "python_block", o));
}

}  // namespace r1
