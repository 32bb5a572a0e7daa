#include "reward/pcre_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace r1 {

namespace {
std::string pcre_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}
}  // namespace

std::string_view RegexMatch::group(std::string_view subject, size_t i) const {
  if (!has(i)) return {};
  return subject.substr(groups[i].start, groups[i].end - groups[i].start);
}

Result<PcreRegex> PcreRegex::compile(const std::string& pattern, uint32_t options) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | options, &error, &offset, nullptr);
  if (code == nullptr)
    return Status::error("regex '" + pattern + "' at offset " + std::to_string(offset) + ": " + pcre_message(error));
  return PcreRegex(std::shared_ptr<void>(code, [](void* p) { pcre2_code_free(static_cast<pcre2_code*>(p)); }));
}

PcreRegex PcreRegex::must_compile(const std::string& pattern, uint32_t options) {
  return value_or_throw(compile(pattern, options));
}

Result<bool> PcreRegex::match(std::string_view subject, size_t start, bool anchored, RegexMatch* out) const {
  auto* code = static_cast<pcre2_code*>(code_.get());
  std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> data(
      pcre2_match_data_create_from_pattern(code, nullptr), pcre2_match_data_free);
  int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), start,
                       anchored ? PCRE2_ANCHORED : 0, data.get(), nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) return Status::error("regex match failed: " + pcre_message(rc));
  PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
  uint32_t count = pcre2_get_ovector_count(data.get());
  out->groups.assign(count, {});
  for (uint32_t i = 0; i < count && i < static_cast<uint32_t>(rc); ++i) {
    if (ovector[2 * i] == PCRE2_UNSET) continue;
    out->groups[i] = {ovector[2 * i], ovector[2 * i + 1]};
  }
  return true;
}

Result<std::vector<RegexMatch>> PcreRegex::find_all(std::string_view subject) const {
  std::vector<RegexMatch> all;
  size_t pos = 0;
  while (pos <= subject.size()) {
    RegexMatch m;
    R1_ASSIGN_OR_RETURN(bool found, match(subject, pos, false, &m));
    if (!found) break;
    size_t end = m.groups[0].end;
    // An empty match must still advance, by one whole UTF-8 character.
    if (end == m.groups[0].start) {
      end = end + 1;
      while (end < subject.size() && (static_cast<unsigned char>(subject[end]) & 0xC0) == 0x80) ++end;
    }
    all.push_back(std::move(m));
    pos = end;
  }
  return all;
}

}  // namespace r1
