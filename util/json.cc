#include "util/json.h"

#include <rapidjson/error/en.h>

#include <cmath>

#include "util/file.h"
#include "util/utf8.h"

namespace r1 {

namespace {

// Converts a byte offset into 1-based line and column for error messages.
std::string position(const std::string& text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return std::to_string(line) + ":" + std::to_string(col);
}

Status missing(const char* key, const std::string& where) {
  return Status::error(where + ": field '" + key + "' is missing");
}
Status mistyped(const char* key, const char* type, const std::string& where) {
  return Status::error(where + ": field '" + key + "' must be " + type);
}

const JsonValue* find(const JsonValue& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

Result<int64_t> as_int(const JsonValue& v, const char* key, const std::string& where) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsUint64()) return mistyped(key, "an integer within int64 range", where);
  // Accept 3.0 but not 3.5: configs written by Python sometimes carry floats.
  if (v.IsDouble() && std::floor(v.GetDouble()) == v.GetDouble() && std::abs(v.GetDouble()) < 9e15)
    return static_cast<int64_t>(v.GetDouble());
  return mistyped(key, "an integer", where);
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Every string leaves as valid UTF-8 whatever bytes came in (rapidjson reads
// input without validating it): broken sequences become U+FFFD. The copy is
// made only for broken text.
bool write_string(Writer& w, std::string_view s, bool is_key) {
  std::string repaired;
  if (!utf8_valid(s)) {
    repaired = utf8_lossy(s);
    s = repaired;
  }
  auto n = static_cast<rapidjson::SizeType>(s.size());
  return is_key ? w.Key(s.data(), n) : w.String(s.data(), n);
}

// SAX handler between a parsed value and the writer that repairs strings on
// the way, so json_to_string of input values is valid UTF-8 too.
struct Utf8SafeHandler {
  Writer& w;
  bool Null() { return w.Null(); }
  bool Bool(bool b) { return w.Bool(b); }
  bool Int(int i) { return w.Int(i); }
  bool Uint(unsigned u) { return w.Uint(u); }
  bool Int64(int64_t i) { return w.Int64(i); }
  bool Uint64(uint64_t u) { return w.Uint64(u); }
  bool Double(double d) { return w.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return w.RawNumber(s, n, copy); }
  bool String(const char* s, rapidjson::SizeType n, bool) { return write_string(w, {s, n}, false); }
  bool StartObject() { return w.StartObject(); }
  bool Key(const char* s, rapidjson::SizeType n, bool) { return write_string(w, {s, n}, true); }
  bool EndObject(rapidjson::SizeType n) { return w.EndObject(n); }
  bool StartArray() { return w.StartArray(); }
  bool EndArray(rapidjson::SizeType n) { return w.EndArray(n); }
};

}  // namespace

Result<rapidjson::Document> parse_json(const std::string& text, const std::string& where) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseFullPrecisionFlag | rapidjson::kParseNanAndInfFlag>(text.c_str(), text.size());
  if (doc.HasParseError()) {
    return Status::error(where + ":" + position(text, doc.GetErrorOffset()) + ": invalid JSON: " +
                         rapidjson::GetParseError_En(doc.GetParseError()));
  }
  return doc;
}

Result<rapidjson::Document> read_json_file(const std::string& path) {
  R1_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_json(text, path);
}

bool json_has(const JsonValue& obj, const char* key) { return find(obj, key) != nullptr; }

Result<int64_t> json_int(const JsonValue& obj, const char* key, const std::string& where) {
  const JsonValue* v = find(obj, key);
  if (!v) return missing(key, where);
  return as_int(*v, key, where);
}

Result<double> json_double(const JsonValue& obj, const char* key, const std::string& where) {
  const JsonValue* v = find(obj, key);
  if (!v) return missing(key, where);
  if (!v->IsNumber()) return mistyped(key, "a number", where);
  return v->GetDouble();
}

Result<std::string> json_string(const JsonValue& obj, const char* key, const std::string& where) {
  const JsonValue* v = find(obj, key);
  if (!v) return missing(key, where);
  if (!v->IsString()) return mistyped(key, "a string", where);
  return std::string(v->GetString(), v->GetStringLength());
}

Result<bool> json_bool(const JsonValue& obj, const char* key, const std::string& where) {
  const JsonValue* v = find(obj, key);
  if (!v) return missing(key, where);
  if (!v->IsBool()) return mistyped(key, "true or false", where);
  return v->GetBool();
}

Result<std::vector<int64_t>> json_int_array(const JsonValue& obj, const char* key, const std::string& where) {
  const JsonValue* v = find(obj, key);
  if (!v) return missing(key, where);
  if (!v->IsArray()) return mistyped(key, "an array of integers", where);
  std::vector<int64_t> out;
  for (const auto& x : v->GetArray()) {
    if (!x.IsInt64()) return mistyped(key, "an array of integers", where);
    out.push_back(x.GetInt64());
  }
  return out;
}

Result<std::vector<std::string>> json_string_array(const JsonValue& obj, const char* key, const std::string& where) {
  const JsonValue* v = find(obj, key);
  if (!v) return missing(key, where);
  if (!v->IsArray()) return mistyped(key, "an array of strings", where);
  std::vector<std::string> out;
  for (const auto& x : v->GetArray()) {
    if (!x.IsString()) return mistyped(key, "an array of strings", where);
    out.emplace_back(x.GetString(), x.GetStringLength());
  }
  return out;
}

Result<int64_t> json_int_or(const JsonValue& obj, const char* key, int64_t fallback, const std::string& where) {
  return json_has(obj, key) ? json_int(obj, key, where) : Result<int64_t>(fallback);
}
Result<double> json_double_or(const JsonValue& obj, const char* key, double fallback, const std::string& where) {
  return json_has(obj, key) ? json_double(obj, key, where) : Result<double>(fallback);
}
Result<std::string> json_string_or(const JsonValue& obj, const char* key, const std::string& fallback,
                                   const std::string& where) {
  return json_has(obj, key) ? json_string(obj, key, where) : Result<std::string>(fallback);
}
Result<bool> json_bool_or(const JsonValue& obj, const char* key, bool fallback, const std::string& where) {
  return json_has(obj, key) ? json_bool(obj, key, where) : Result<bool>(fallback);
}

std::string json_to_string(const JsonValue& value) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  Utf8SafeHandler handler{writer};
  value.Accept(handler);
  return buffer.GetString();
}

JsonWriter::JsonWriter() : writer_(buffer_) {}
JsonWriter& JsonWriter::key(const std::string& k) {
  write_string(writer_, k, true);
  return *this;
}
JsonWriter& JsonWriter::value(const std::string& v) {
  write_string(writer_, v, false);
  return *this;
}
JsonWriter& JsonWriter::value(int64_t v) {
  writer_.Int64(v);
  return *this;
}
JsonWriter& JsonWriter::value(uint64_t v) {
  writer_.Uint64(v);
  return *this;
}
JsonWriter& JsonWriter::value(double v) {
  if (std::isfinite(v))
    writer_.Double(v);
  else
    writer_.Null();  // JSON has no NaN/Inf
  return *this;
}
JsonWriter& JsonWriter::value(bool v) {
  writer_.Bool(v);
  return *this;
}
JsonWriter& JsonWriter::null() {
  writer_.Null();
  return *this;
}
JsonWriter& JsonWriter::raw(const std::string& json) {
  // Raw text from elsewhere gets the same repair as strings (U+FFFD inside a
  // JSON string literal keeps it valid JSON).
  std::string repaired = utf8_valid(json) ? std::string() : utf8_lossy(json);
  const std::string& text = repaired.empty() ? json : repaired;
  writer_.RawValue(text.data(), text.size(), rapidjson::kObjectType);
  return *this;
}
JsonWriter& JsonWriter::begin_object() {
  writer_.StartObject();
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  writer_.EndObject();
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  writer_.StartArray();
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  writer_.EndArray();
  return *this;
}
JsonWriter& JsonWriter::array(const std::vector<int64_t>& v) {
  begin_array();
  for (int64_t x : v) writer_.Int64(x);
  return end_array();
}
JsonWriter& JsonWriter::array(const std::vector<double>& v) {
  begin_array();
  for (double x : v) value(x);
  return end_array();
}
JsonWriter& JsonWriter::array(const std::vector<std::string>& v) {
  begin_array();
  for (const auto& x : v) value(x);
  return end_array();
}

rapidjson::Value json_override_value(const std::string& text, rapidjson::Document::AllocatorType& alloc) {
  rapidjson::Document parsed(&alloc);
  parsed.Parse(text.c_str(), text.size());
  rapidjson::Value value;
  if (parsed.HasParseError())
    value.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()), alloc);
  else
    value.CopyFrom(parsed, alloc);
  return value;
}

}  // namespace r1
