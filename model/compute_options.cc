#include "model/compute_options.h"

#include <cctype>

namespace r1 {

namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s)
    if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
  return true;
}

// A string key whose value must pass `check` (which names what it accepts).
ConfigFields<ComputeOptions>::Setter checked_string(std::string ComputeOptions::*member, const char* key,
                                                    Status (*check)(std::string_view)) {
  return [member, key, check](ComputeOptions& c, const JsonValue& v, const std::string& where) {
    if (!v.IsString()) return field_value_error(v, key, "a string", where);
    std::string value(v.GetString(), v.GetStringLength());
    R1_RETURN_IF_ERROR(check(value).with_context(where + ": field '" + key + "'"));
    c.*member = std::move(value);
    return Status();
  };
}

ConfigFields<ComputeOptions>::Writer string_writer(std::string ComputeOptions::*member) {
  return [member](const ComputeOptions& c, JsonWriter& w) { w.value(c.*member); };
}

}  // namespace

Status check_device_spelling(std::string_view d) {
  if (d == "auto" || d == "cpu" || d == "cuda") return Status();
  if (d.rfind("cuda:", 0) == 0 && all_digits(d.substr(5))) return Status();
  return Status::error("must be cpu, cuda, cuda:N or auto, got '" + std::string(d) + "'");
}

Status check_dtype_spelling(std::string_view t) {
  if (t == "auto" || t == "float32" || t == "bfloat16" || t == "float16") return Status();
  return Status::error("must be auto, float32, bfloat16 or float16, got '" + std::string(t) + "'");
}

const ConfigFields<ComputeOptions>& compute_options_fields() {
  using C = ComputeOptions;
  static const ConfigFields<C> fields =
      ConfigFields<C>("compute options")
          .add("device", "a string", checked_string(&C::device, "device", check_device_spelling),
               string_writer(&C::device),
               "cpu, cuda (GPU 0), cuda:N, or auto (cuda:0 when a CUDA GPU is visible, else cpu); "
               "cuda without such a GPU is an error")
          .add("dtype", "a string", checked_string(&C::dtype, "dtype", check_dtype_spelling), string_writer(&C::dtype),
               "float32, bfloat16, float16, or auto: the job's default (rl bfloat16, as TRL's bf16=True; "
               "sft and pretrain-toy float32; eval, sample and generate the checkpoint's)");
  return fields;
}

}  // namespace r1
