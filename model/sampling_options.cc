#include "model/sampling_options.h"

#include "util/config_fields.h"

namespace r1 {

Status SamplingOptions::validate() const {
  return check_field_rules({
      {temperature >= 0, "temperature", ">= 0 (0 = greedy)", temperature},
      {top_k >= 0, "top_k", ">= 0 (0 = off)", double(top_k)},
      {top_p > 0 && top_p <= 1, "top_p", "in (0, 1]", top_p},
      {min_p >= 0 && min_p <= 1, "min_p", "in [0, 1] (1 keeps only the most likely tokens)", min_p},
  });
}

Status check_stop_strings(const std::vector<std::string>& stops, std::string_view key) {
  for (const std::string& s : stops)
    if (s.empty()) return field_error(key, "must not hold an empty string");
  return Status();
}

}  // namespace r1
