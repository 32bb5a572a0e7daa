#include "reward/reward_checker.h"

namespace r1 {

Result<const JsonValue*> reference_field(const RewardInput& input, const char* key) {
  if (input.reference == nullptr || !input.reference->IsObject())
    return Status::error(input.where + ": no reference row to read field '" + key + "' from");
  auto it = input.reference->FindMember(key);
  if (it == input.reference->MemberEnd() || it->value.IsNull())
    return Status::error(input.where + ": field '" + key + "' is missing");
  return &it->value;
}

Result<std::string> reference_text(const RewardInput& input, const std::string& key) {
  R1_ASSIGN_OR_RETURN(const JsonValue* v, reference_field(input, key.c_str()));
  if (v->IsNumber()) return json_to_string(*v);
  if (!v->IsString()) return Status::error(input.where + ": field '" + key + "' must be a string or a number");
  return std::string(v->GetString(), v->GetStringLength());
}

Result<RewardScore> BatchedRewardChecker::score(const RewardInput& input) const {
  R1_ASSIGN_OR_RETURN(std::vector<RewardScore> one, score_many({&input}));
  return std::move(one.front());
}

Result<std::vector<RewardScore>> RewardChecker::score_many(const std::vector<const RewardInput*>& inputs) const {
  std::vector<RewardScore> out;
  for (const RewardInput* in : inputs) {
    R1_ASSIGN_OR_RETURN(RewardScore s, score(*in));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace r1
