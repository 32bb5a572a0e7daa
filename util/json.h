// RapidJSON helpers that turn missing or mistyped fields into Status errors
// naming the file and the key, and a small writer for JSON output lines.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace r1 {

using JsonValue = rapidjson::Value;

// Parses `text`; on error the Status reads "<where>:<line>:<col>: <reason>".
Result<rapidjson::Document> parse_json(const std::string& text, const std::string& where);
Result<rapidjson::Document> read_json_file(const std::string& path);

// Required fields: error "<where>: field 'key' is missing / must be <type>".
Result<int64_t> json_int(const JsonValue& obj, const char* key, const std::string& where);
Result<double> json_double(const JsonValue& obj, const char* key, const std::string& where);
Result<std::string> json_string(const JsonValue& obj, const char* key, const std::string& where);
Result<bool> json_bool(const JsonValue& obj, const char* key, const std::string& where);

// Optional fields: the fallback when absent or null, an error when mistyped.
Result<int64_t> json_int_or(const JsonValue& obj, const char* key, int64_t fallback, const std::string& where);
Result<double> json_double_or(const JsonValue& obj, const char* key, double fallback, const std::string& where);
Result<std::string> json_string_or(const JsonValue& obj, const char* key, const std::string& fallback,
                                   const std::string& where);
Result<bool> json_bool_or(const JsonValue& obj, const char* key, bool fallback, const std::string& where);

bool json_has(const JsonValue& obj, const char* key);  // present and not null

// A required array of integers / strings.
Result<std::vector<int64_t>> json_int_array(const JsonValue& obj, const char* key, const std::string& where);
Result<std::vector<std::string>> json_string_array(const JsonValue& obj, const char* key, const std::string& where);

// Serialises any value compactly.
std::string json_to_string(const JsonValue& value);

// The value of a `--set key=value`, the same in every command: `text` as
// JSON when it parses, else as a string (util/config_fields.h, recipes).
rapidjson::Value json_override_value(const std::string& text, rapidjson::Document::AllocatorType& alloc);

// Builds one JSON object as text, keys in insertion order.
class JsonWriter {
 public:
  JsonWriter();
  JsonWriter& key(const std::string& k);
  JsonWriter& value(const std::string& v);
  JsonWriter& value(const char* v) { return value(std::string(v)); }
  JsonWriter& value(int64_t v);
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(uint64_t v);
  JsonWriter& value(double v);
  JsonWriter& value(bool v);
  JsonWriter& null();
  JsonWriter& raw(const std::string& json);  // an already-serialised value
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& array(const std::vector<int64_t>& v);
  JsonWriter& array(const std::vector<double>& v);
  JsonWriter& array(const std::vector<std::string>& v);
  std::string str() const { return buffer_.GetString(); }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace r1
