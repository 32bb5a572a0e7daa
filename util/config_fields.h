// The one config mechanism: a table of fields per config struct (name,
// member or setter, type, help), from which every job parses its JSON file
// (errors name the file, the field and the expected type), rejects unknown
// keys (suggesting the nearest), applies `--set key=value` overrides, writes
// itself back as JSON and prints `--help-config`. A config file defines its
// table, its checks and nothing else:
//
//   const ConfigFields<SFTConfig>& sft_config_fields() {
//     static const ConfigFields<SFTConfig> fields = ConfigFields<SFTConfig>("SFT config", validate)
//         .add("learning_rate", &SFTConfig::learning_rate, "peak learning rate")
//         ...;
//     return fields;
//   }
//
// `--set key=value` means the same in every command: VALUE is parsed as JSON
// when it is JSON, else taken as a string (so `--set k=null` is null and
// `--set k=none` the string "none").
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "util/json.h"
#include "util/status.h"

namespace r1 {

// ---- the value types a field may hold ----
// Each reads a JSON value (false on a mismatched type; null is accepted only
// by the optionals, which it resets), writes one, and names its JSON form.
// Integers accept 3.0 but not 3.5 (configs written by Python carry floats).
bool read_field_value(const JsonValue& v, int64_t& out);
bool read_field_value(const JsonValue& v, double& out);
bool read_field_value(const JsonValue& v, bool& out);
bool read_field_value(const JsonValue& v, std::string& out);
bool read_field_value(const JsonValue& v, std::optional<int64_t>& out);
bool read_field_value(const JsonValue& v, std::optional<double>& out);
bool read_field_value(const JsonValue& v, std::vector<std::string>& out);
bool read_field_value(const JsonValue& v, std::optional<std::vector<std::string>>& out);
void write_field_value(JsonWriter& w, int64_t v);
void write_field_value(JsonWriter& w, double v);
void write_field_value(JsonWriter& w, bool v);
void write_field_value(JsonWriter& w, const std::string& v);
void write_field_value(JsonWriter& w, const std::optional<int64_t>& v);
void write_field_value(JsonWriter& w, const std::optional<double>& v);
void write_field_value(JsonWriter& w, const std::vector<std::string>& v);
void write_field_value(JsonWriter& w, const std::optional<std::vector<std::string>>& v);
// "an integer", "a number or null", ... as errors say it.
const char* field_value_expected(const int64_t&);
const char* field_value_expected(const double&);
const char* field_value_expected(const bool&);
const char* field_value_expected(const std::string&);
const char* field_value_expected(const std::optional<int64_t>&);
const char* field_value_expected(const std::optional<double>&);
const char* field_value_expected(const std::vector<std::string>&);
const char* field_value_expected(const std::optional<std::vector<std::string>>&);

// "<where>: field '<key>' must be <expected>" (or "... may not be null").
Status field_value_error(const JsonValue& v, std::string_view key, std::string_view expected, const std::string& where);

// ---- checks of the values, after the keys are read ----
// Every config's checks name the key the same way (the table puts the file
// in front): "field '<key>' <what>".
Status field_error(std::string_view key, const std::string& what);

// A number as the checks show it ("%g": 0.5, 1e-06, 3).
std::string format_number(double v);

// One range check: `ok`, else "field '<key>' must be <must>, got <value>".
struct FieldRule {
  bool ok;
  const char* key;
  const char* must;
  double value;
};
// The first rule that fails, as its error.
Status check_field_rules(std::initializer_list<FieldRule> rules);

// "field '<key>' must be one of 'a', 'b', got 'c'" unless `value` is allowed.
Status field_one_of(std::string_view key, const std::string& value, const std::vector<std::string>& allowed);

// What the table knows about one key besides how to read and write it.
struct FieldInfo {
  std::string name;
  std::string expected;  // "an integer", "a string or null", ...: errors and help show it
  std::string help;
  bool written = true;  // false: an input-only alias of another key (to_json and keys() leave it out)
  bool required = false;  // the checks refuse the config while the key is null, "" or []
};

// The parts of a table that do not depend on the config type.
namespace config_fields_detail {
// Index of the field named `key`, or -1.
int find(const std::vector<FieldInfo>& fields, std::string_view key);
// "<where>: unknown key 'x'", with "(did you mean 'y'?)" when one is close.
Status unknown_key(const std::vector<FieldInfo>& fields, std::string_view key, const std::string& where);
// Splits "key=value" and parses the value as JSON, else takes it as a string.
Status split_override(std::string_view assignment, std::string& key, rapidjson::Document& value);
// One entry per key: "name (expected; default D)", or "(expected;
// required)", and the help below it.
void print_help(std::ostream& out, const std::vector<FieldInfo>& fields, const std::vector<std::string>& defaults);
// "field '<key>' is required: <help>" when `written` (the value as JSON) is
// null, "" or [].
Status check_required(const FieldInfo& field, const std::string& written);
}  // namespace config_fields_detail

template <typename C>
class ConfigFields {
 public:
  // Reads one JSON value into the config; errors start with `where`.
  using Setter = std::function<Status(C&, const JsonValue&, const std::string& where)>;
  using Writer = std::function<void(const C&, JsonWriter&)>;
  // Checks the whole config after its keys are read and the required ones
  // found set (ranges, combinations); it may also fill what follows from
  // other keys.
  using Finish = std::function<Status(C&)>;

  // `what` names the config in "<where>: the <what> must be a JSON object".
  explicit ConfigFields(std::string what, Finish finish = nullptr)
      : what_(std::move(what)), finish_(std::move(finish)) {}

  // A key held by a member of one of the value types above.
  template <typename T>
  ConfigFields& add(const char* name, T C::*member, const char* help) {
    Writer write = [member](const C& c, JsonWriter& w) { write_field_value(w, c.*member); };
    return add(name, field_value_expected(C{}.*member), member_setter(name, member), std::move(write), help);
  }

  // A key kept as compact JSON text ("" for null): a dataset source, a reward
  // spec. `accepts` (default: anything) rejects the other values as not `expected`.
  ConfigFields& add_json(const char* name, std::string C::*member, const char* expected, const char* help,
                         bool (*accepts)(const JsonValue&) = nullptr) {
    std::string key = name, what = expected;
    Setter set = [member, key, what, accepts](C& c, const JsonValue& v, const std::string& where) {
      if (accepts && !v.IsNull() && !accepts(v)) return field_value_error(v, key, what, where);
      c.*member = v.IsNull() ? "" : json_to_string(v);
      return Status();
    };
    Writer write = [member](const C& c, JsonWriter& w) {
      if ((c.*member).empty())
        w.null();
      else
        w.raw(c.*member);
    };
    return add(name, expected, std::move(set), std::move(write), help);
  }

  // A key with its own reading and writing.
  ConfigFields& add(const char* name, const char* expected, Setter set, Writer write, const char* help) {
    return push({{name, expected, help, true}, std::move(set), std::move(write)});
  }

  // An input-only name for another key (TRL's `bf16` for `dtype`): read,
  // listed by help, never written.
  ConfigFields& add_alias(const char* name, const char* expected, Setter set, const char* help) {
    return push({{name, expected, help, false}, std::move(set), nullptr});
  }
  // An input-only name that reads into another key's member (sample's
  // `stop_strings` for `stop`); errors name the alias.
  template <typename T>
  ConfigFields& add_alias(const char* name, T C::*member, const char* help) {
    return add_alias(name, field_value_expected(C{}.*member), member_setter(name, member), help);
  }

  // Marks the key added last as one the config cannot do without: the
  // checks refuse the config while it is null, "" or [], and --help-config
  // says "required" in place of its default.
  ConfigFields& required() {
    fields_.back().info.required = infos_.back().required = true;
    return *this;
  }

  // Every field of `sub`, read into and written from `member` (flat keys).
  template <typename S>
  ConfigFields& include(const ConfigFields<S>& sub, S C::*member) {
    for (const auto& f : sub.fields()) {
      Setter set = [set = f.set, member](C& c, const JsonValue& v, const std::string& where) {
        return set(c.*member, v, where);
      };
      Writer write = nullptr;
      if (f.write) write = [write = f.write, member](const C& c, JsonWriter& w) { write(c.*member, w); };
      push({f.info, std::move(set), std::move(write)});
    }
    return *this;
  }

  // Every field of `sub`, read into and written from C's base class B (a
  // trainer config deriving from TrainingArguments).
  template <typename B>
  ConfigFields& include_base(const ConfigFields<B>& sub) {
    static_assert(std::is_base_of_v<B, C>);
    for (const auto& f : sub.fields()) {
      Setter set = [set = f.set](C& c, const JsonValue& v, const std::string& where) {
        return set(static_cast<B&>(c), v, where);
      };
      Writer write = nullptr;
      if (f.write) write = [write = f.write](const C& c, JsonWriter& w) { write(static_cast<const B&>(c), w); };
      push({f.info, std::move(set), std::move(write)});
    }
    return *this;
  }

  // Reads every key of `object` into `c`; unknown keys are errors. No checks.
  Status apply_json(C& c, const JsonValue& object, const std::string& where) const {
    if (!object.IsObject()) return Status::error(where + ": the " + what_ + " must be a JSON object");
    for (auto it = object.MemberBegin(); it != object.MemberEnd(); ++it) {
      std::string_view key(it->name.GetString(), it->name.GetStringLength());
      int i = config_fields_detail::find(infos(), key);
      if (i < 0) return config_fields_detail::unknown_key(infos(), key, where);
      R1_RETURN_IF_ERROR(fields_[i].set(c, it->value, where));
    }
    return Status();
  }

  // One "key=value"; errors start with "override '<assignment>'". No checks.
  Status apply_override(C& c, std::string_view assignment) const {
    const std::string where = "override '" + std::string(assignment) + "'";
    std::string key;
    rapidjson::Document value;
    R1_RETURN_IF_ERROR(config_fields_detail::split_override(assignment, key, value).with_context(where));
    int i = config_fields_detail::find(infos(), key);
    if (i < 0) return config_fields_detail::unknown_key(infos(), key, where);
    return fields_[i].set(c, value, where);
  }

  // The required keys are set (required()), in table order.
  Status check_required(const C& c) const {
    for (const auto& f : fields_)
      if (f.info.required && f.write) R1_RETURN_IF_ERROR(config_fields_detail::check_required(f.info, written(f, c)));
    return Status();
  }

  // The config's checks (and derived values): the required keys, then the
  // table's own; errors start with `where`.
  Status finish(C& c, const std::string& where) const {
    R1_RETURN_IF_ERROR(check_required(c).with_context(where));
    return finish_ ? finish_(c).with_context(where) : Status();
  }

  // `start`, then `object`'s keys, then `overrides` in order, then the checks.
  // Errors of the checks name `where`, with " (with --set)" after overrides.
  Result<C> parse(const JsonValue& object, const std::string& where, const std::vector<std::string>& overrides = {},
                  C start = C{}) const {
    R1_RETURN_IF_ERROR(apply_json(start, object, where));
    for (const std::string& o : overrides) R1_RETURN_IF_ERROR(apply_override(start, o));
    R1_RETURN_IF_ERROR(finish(start, overrides.empty() ? where : where + " (with --set)"));
    return start;
  }

  // parse() of the JSON file at `path`.
  Result<C> load(const std::string& path, const std::vector<std::string>& overrides = {}, C start = C{}) const {
    R1_ASSIGN_OR_RETURN(rapidjson::Document doc, read_json_file(path));
    return parse(doc, path, overrides, std::move(start));
  }

  // Every written key in table order, as one JSON object that parses back.
  std::string to_json(const C& c) const {
    JsonWriter w;
    w.begin_object();
    for (const auto& f : fields_)
      if (f.write) f.write(c, w.key(f.info.name));
    w.end_object();
    return w.str();
  }

  // Every key (aliases too) with its type, its value in `defaults` and its help.
  void print_help(std::ostream& out, const C& defaults = C{}) const {
    std::vector<std::string> values;
    for (const auto& f : fields_) values.push_back(f.write ? written(f, defaults) : "");
    config_fields_detail::print_help(out, infos(), values);
  }

  // The written keys in table order.
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& f : fields_)
      if (f.info.written) out.push_back(f.info.name);
    return out;
  }

  struct Field {
    FieldInfo info;
    Setter set;
    Writer write;  // null for aliases
  };
  const std::vector<Field>& fields() const { return fields_; }

 private:
  // One field's value in `c` as compact JSON.
  static std::string written(const Field& f, const C& c) {
    JsonWriter w;
    w.begin_array();
    f.write(c, w);
    w.end_array();
    std::string text = w.str();
    return text.substr(1, text.size() - 2);
  }

  // Reads a JSON value of T into `member`; errors name `key`.
  template <typename T>
  static Setter member_setter(const char* key, T C::*member) {
    return [member, key = std::string(key)](C& c, const JsonValue& v, const std::string& where) {
      if (read_field_value(v, c.*member)) return Status();
      return field_value_error(v, key, field_value_expected(c.*member), where);
    };
  }

  ConfigFields& push(Field f) {
    infos_.push_back(f.info);
    fields_.push_back(std::move(f));
    return *this;
  }
  const std::vector<FieldInfo>& infos() const { return infos_; }

  std::string what_;
  Finish finish_;
  std::vector<Field> fields_;
  std::vector<FieldInfo> infos_;  // fields_' infos, for the untyped helpers
};

}  // namespace r1
