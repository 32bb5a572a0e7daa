#include "reward/math_reward.h"

#include "reward/math_checker.h"

namespace r1 {

namespace {

class MathChecker : public RewardChecker {
 public:
  MathChecker(MathOptions options, std::string field) : options_(std::move(options)), field_(std::move(field)) {}
  Result<RewardScore> score(const RewardInput& input) const override {
    R1_ASSIGN_OR_RETURN(std::string gold_text, reference_text(input, field_));
    MathVerdict v = check_math_answer(input.completion, gold_text, options_);
    JsonWriter w;
    w.begin_object().key("extracted").value(v.extracted).key("reason").value(v.reason);
    w.key("timed_out").value(v.timed_out).end_object();
    return RewardScore{v.correct ? 1.0 : 0.0, w.str()};
  }
  Status check_reference(const RewardInput& row) const override { return reference_text(row, field_).status(); }

 private:
  MathOptions options_;
  std::string field_;
};

}  // namespace

Result<std::unique_ptr<RewardChecker>> make_math_checker(CheckerParams& params) {
  MathOptions o;
  R1_ASSIGN_OR_RETURN(std::string field, params.string("answer_field", "answer"));
  R1_ASSIGN_OR_RETURN(o.extract.last_number_fallback,
                      params.boolean("last_number_fallback", o.extract.last_number_fallback));
  R1_ASSIGN_OR_RETURN(o.extract.decimal_comma, params.boolean("decimal_comma", o.extract.decimal_comma));
  R1_ASSIGN_OR_RETURN(o.allow_set_relation_comp, params.boolean("allow_set_relation_comp", o.allow_set_relation_comp));
  R1_ASSIGN_OR_RETURN(o.rel_tolerance, params.number("rel_tolerance", o.rel_tolerance));
  R1_ASSIGN_OR_RETURN(o.timeout_ms, params.integer("timeout_ms", o.timeout_ms));
  R1_RETURN_IF_ERROR(params.check_no_unknown());
  if (o.timeout_ms <= 0) return params.error("param 'timeout_ms' must be positive");
  return std::unique_ptr<RewardChecker>(new MathChecker(o, field));
}

}  // namespace r1
