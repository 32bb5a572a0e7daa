#include "reward/checker_params.h"

namespace r1 {

namespace {
const JsonValue& empty_object() {
  static const rapidjson::Value kEmpty(rapidjson::kObjectType);
  return kEmpty;
}
}  // namespace

CheckerParams::CheckerParams(const JsonValue* params, std::string where)
    : params_(params != nullptr && !params->IsNull() ? params : &empty_object()), where_(std::move(where)) {}

Result<double> CheckerParams::number(const char* key, double fallback) {
  known_.insert(key);
  return json_double_or(*params_, key, fallback, where_);
}

Result<int64_t> CheckerParams::integer(const char* key, int64_t fallback) {
  known_.insert(key);
  return json_int_or(*params_, key, fallback, where_);
}

Result<int64_t> CheckerParams::required_integer(const char* key) {
  known_.insert(key);
  return json_int(*params_, key, where_);
}

Result<std::string> CheckerParams::string(const char* key, const std::string& fallback) {
  known_.insert(key);
  return json_string_or(*params_, key, fallback, where_);
}

Result<bool> CheckerParams::boolean(const char* key, bool fallback) {
  known_.insert(key);
  return json_bool_or(*params_, key, fallback, where_);
}

const JsonValue* CheckerParams::raw(const char* key) {
  known_.insert(key);
  auto it = params_->FindMember(key);
  return it == params_->MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
}

Status CheckerParams::check_no_unknown() const {
  if (!params_->IsObject()) return Status::error(where_ + " must be an object");
  for (auto it = params_->MemberBegin(); it != params_->MemberEnd(); ++it) {
    std::string key(it->name.GetString(), it->name.GetStringLength());
    if (known_.count(key)) continue;
    std::string list;
    for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
    return Status::error(where_ + ": unknown param '" + key + "' (known: " + (list.empty() ? "none" : list) + ")");
  }
  return Status();
}

}  // namespace r1
