#include "util/config_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace r1 {

namespace {

bool read_int(const JsonValue& v, int64_t& out) {
  if (v.IsInt64()) return out = v.GetInt64(), true;
  if (v.IsDouble() && std::trunc(v.GetDouble()) == v.GetDouble() && std::abs(v.GetDouble()) < 9e15)
    return out = static_cast<int64_t>(v.GetDouble()), true;
  return false;
}

bool read_strings(const JsonValue& v, std::vector<std::string>& out) {
  if (!v.IsArray()) return false;
  std::vector<std::string> list;
  for (const auto& s : v.GetArray()) {
    if (!s.IsString()) return false;
    list.emplace_back(s.GetString(), s.GetStringLength());
  }
  out = std::move(list);
  return true;
}

// Reads a nullable value: null resets it, anything else goes through `read`.
template <typename T, typename Read>
bool read_optional(const JsonValue& v, std::optional<T>& out, Read read) {
  if (v.IsNull()) return out.reset(), true;
  T value{};
  if (!read(v, value)) return false;
  out = std::move(value);
  return true;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

bool read_field_value(const JsonValue& v, int64_t& out) { return read_int(v, out); }
bool read_field_value(const JsonValue& v, double& out) { return v.IsNumber() && (out = v.GetDouble(), true); }
bool read_field_value(const JsonValue& v, bool& out) { return v.IsBool() && (out = v.GetBool(), true); }
bool read_field_value(const JsonValue& v, std::string& out) {
  return v.IsString() && (out.assign(v.GetString(), v.GetStringLength()), true);
}
bool read_field_value(const JsonValue& v, std::optional<int64_t>& out) { return read_optional(v, out, read_int); }
bool read_field_value(const JsonValue& v, std::optional<double>& out) {
  return read_optional(v, out, [](const JsonValue& x, double& d) { return read_field_value(x, d); });
}
bool read_field_value(const JsonValue& v, std::vector<std::string>& out) { return read_strings(v, out); }
bool read_field_value(const JsonValue& v, std::optional<std::vector<std::string>>& out) {
  return read_optional(v, out, read_strings);
}

void write_field_value(JsonWriter& w, int64_t v) { w.value(v); }
void write_field_value(JsonWriter& w, double v) { w.value(v); }
void write_field_value(JsonWriter& w, bool v) { w.value(v); }
void write_field_value(JsonWriter& w, const std::string& v) { w.value(v); }
void write_field_value(JsonWriter& w, const std::optional<int64_t>& v) { v ? w.value(*v) : w.null(); }
void write_field_value(JsonWriter& w, const std::optional<double>& v) { v ? w.value(*v) : w.null(); }
void write_field_value(JsonWriter& w, const std::vector<std::string>& v) { w.array(v); }
void write_field_value(JsonWriter& w, const std::optional<std::vector<std::string>>& v) { v ? w.array(*v) : w.null(); }

const char* field_value_expected(const int64_t&) { return "an integer"; }
const char* field_value_expected(const double&) { return "a number"; }
const char* field_value_expected(const bool&) { return "true or false"; }
const char* field_value_expected(const std::string&) { return "a string"; }
const char* field_value_expected(const std::optional<int64_t>&) { return "an integer or null"; }
const char* field_value_expected(const std::optional<double>&) { return "a number or null"; }
const char* field_value_expected(const std::vector<std::string>&) { return "a list of strings"; }
const char* field_value_expected(const std::optional<std::vector<std::string>>&) { return "a list of strings or null"; }

Status field_value_error(const JsonValue& v, std::string_view key, std::string_view expected,
                         const std::string& where) {
  std::string field = where + ": field '" + std::string(key) + "' ";
  bool nullable = expected.find("null") != std::string_view::npos;
  if (v.IsNull() && !nullable) return Status::error(field + "may not be null");
  return Status::error(field + "must be " + std::string(expected));
}

Status field_error(std::string_view key, const std::string& what) {
  return Status::error("field '" + std::string(key) + "' " + what);
}

std::string format_number(double v) {
  char out[32];
  std::snprintf(out, sizeof out, "%g", v);
  return out;
}

Status check_field_rules(std::initializer_list<FieldRule> rules) {
  for (const FieldRule& r : rules)
    if (!r.ok) return field_error(r.key, std::string("must be ") + r.must + ", got " + format_number(r.value));
  return Status();
}

Status field_one_of(std::string_view key, const std::string& value, const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return Status();
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "'" : ", '") + a + "'";
  return field_error(key, "must be one of " + list + ", got '" + value + "'");
}

namespace config_fields_detail {

int find(const std::vector<FieldInfo>& fields, std::string_view key) {
  for (size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == key) return static_cast<int>(i);
  return -1;
}

Status unknown_key(const std::vector<FieldInfo>& fields, std::string_view key, const std::string& where) {
  const FieldInfo* best = nullptr;
  size_t best_distance = SIZE_MAX;
  for (const FieldInfo& f : fields) {
    size_t d = edit_distance(key, f.name);
    if (d < best_distance) best = &f, best_distance = d;
  }
  std::string message = where + ": unknown key '" + std::string(key) + "'";
  if (best && best_distance <= std::max<size_t>(3, key.size() / 3)) message += " (did you mean '" + best->name + "'?)";
  return Status::error(message);
}

Status split_override(std::string_view assignment, std::string& key, rapidjson::Document& value) {
  size_t eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) return Status::error("expected key=value");
  key = std::string(assignment.substr(0, eq));
  rapidjson::Value parsed = json_override_value(std::string(assignment.substr(eq + 1)), value.GetAllocator());
  static_cast<rapidjson::Value&>(value) = parsed;
  return Status();
}

void print_help(std::ostream& out, const std::vector<FieldInfo>& fields, const std::vector<std::string>& defaults) {
  for (size_t i = 0; i < fields.size(); ++i) {
    const FieldInfo& f = fields[i];
    out << "  " << f.name << " (" << f.expected;
    if (f.required) out << "; required";
    else if (f.written) out << "; default " << defaults[i];
    out << ")\n      " << f.help << "\n";
  }
}

Status check_required(const FieldInfo& field, const std::string& written) {
  if (written != "null" && written != "\"\"" && written != "[]") return Status();
  return field_error(field.name, "is required: " + field.help);
}

}  // namespace config_fields_detail

}  // namespace r1
