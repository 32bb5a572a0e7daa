#include "reward/reward_checker.h"

#include <utf8proc.h>

namespace r1 {

Result<const JsonValue*> reference_field(const RewardInput& input, const char* key) {
  if (input.reference == nullptr || !input.reference->IsObject())
    return Status::error(input.where + ": no reference row to read field '" + key + "' from");
  auto it = input.reference->FindMember(key);
  if (it == input.reference->MemberEnd() || it->value.IsNull())
    return Status::error(input.where + ": field '" + key + "' is missing");
  return &it->value;
}

std::string to_valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(bytes + pos, static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
    if (n > 0) {
      out.append(text.substr(pos, static_cast<size_t>(n)));
      pos += static_cast<size_t>(n);
    } else {
      out += "\xEF\xBF\xBD";
      ++pos;
    }
  }
  return out;
}

}  // namespace r1
