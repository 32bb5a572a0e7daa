#include "util/config_fields.h"

#include <gtest/gtest.h>

#include <sstream>

#include "util/file.h"

namespace r1 {
namespace {

// A config with one field of each kind the table supports.
struct Sample {
  int64_t count = 3;
  double rate = 0.5;
  bool flag = false;
  std::string name = "x";
  std::optional<int64_t> limit;
  std::optional<double> cap = 1.5;
  std::vector<std::string> tags;
  std::optional<std::vector<std::string>> stops;
  std::string source;  // JSON text
};

struct Outer {
  Sample inner;
  std::string label;
};

bool is_object(const JsonValue& v) { return v.IsObject(); }

const ConfigFields<Sample>& sample_fields() {
  static const ConfigFields<Sample> fields =
      ConfigFields<Sample>(
          "sample config",
          [](Sample& s) { return s.count >= 0 ? Status() : Status::error("field 'count' must be >= 0"); })
          .add("count", &Sample::count, "how many")
          .add("rate", &Sample::rate, "how fast")
          .add("flag", &Sample::flag, "whether")
          .add("name", &Sample::name, "what")
          .add("limit", &Sample::limit, "at most")
          .add("cap", &Sample::cap, "ceiling")
          .add("tags", &Sample::tags, "labels")
          .add("stops", &Sample::stops, "stop strings")
          .add_json("source", &Sample::source, "an object", "a JSON object", is_object)
          .add_alias(
              "many", "true or false",
              [](Sample& s, const JsonValue& v, const std::string& where) {
                if (!v.IsBool()) return field_value_error(v, "many", "true or false", where);
                s.count = v.GetBool() ? 100 : 1;
                return Status();
              },
              "count 100 or 1");
  return fields;
}

Result<Sample> parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  R1_ASSIGN_OR_RETURN(rapidjson::Document doc, parse_json(text, "c.json"));
  return sample_fields().parse(doc, "c.json", overrides);
}

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  Result<Sample> s = parse(text, overrides);
  return s.ok() ? "ok" : s.status().message();
}

TEST(ConfigFields, ReadsEveryKindOfValue) {
  Sample s = value_or_throw(parse(R"({"count": 4.0, "rate": 2, "flag": true, "name": "y", "limit": 7, "cap": null,
      "tags": ["a", "b"], "stops": ["\n"], "source": {"k": [1, 2]}})"));
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.rate, 2.0);
  EXPECT_TRUE(s.flag);
  EXPECT_EQ(s.name, "y");
  EXPECT_EQ(s.limit, 7);
  EXPECT_FALSE(s.cap.has_value());
  EXPECT_EQ(s.tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.stops, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(s.source, R"({"k":[1,2]})");
}

TEST(ConfigFields, ErrorsNameTheFileTheFieldAndTheType) {
  EXPECT_EQ(error_of(R"({"count": 2.5})"), "c.json: field 'count' must be an integer");
  EXPECT_EQ(error_of(R"({"rate": "fast"})"), "c.json: field 'rate' must be a number");
  EXPECT_EQ(error_of(R"({"flag": 1})"), "c.json: field 'flag' must be true or false");
  EXPECT_EQ(error_of(R"({"name": null})"), "c.json: field 'name' may not be null");
  EXPECT_EQ(error_of(R"({"limit": "7"})"), "c.json: field 'limit' must be an integer or null");
  EXPECT_EQ(error_of(R"({"tags": ["a", 1]})"), "c.json: field 'tags' must be a list of strings");
  EXPECT_EQ(error_of(R"({"source": [1]})"), "c.json: field 'source' must be an object");
  EXPECT_EQ(error_of(R"({"cuont": 1})"), "c.json: unknown key 'cuont' (did you mean 'count'?)");
  EXPECT_EQ(error_of(R"({"entirely_different": 1})"), "c.json: unknown key 'entirely_different'");
  EXPECT_EQ(error_of("[]"), "c.json: the sample config must be a JSON object");
  // The checks run last and name the file.
  EXPECT_EQ(error_of(R"({"count": -1})"), "c.json: field 'count' must be >= 0");
}

TEST(ConfigFields, SetIsJsonElseAString) {
  Sample s = value_or_throw(
      parse("{}", {"count=5", "name=none", "limit=null", R"(tags=["t"])", "source={\"a\": 1}", "name=7x"}));
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.name, "7x");  // not JSON: a string
  EXPECT_FALSE(s.limit.has_value());
  EXPECT_EQ(s.tags, std::vector<std::string>{"t"});
  EXPECT_EQ(s.source, R"({"a":1})");
  EXPECT_EQ(value_or_throw(parse("{}", {"name=none"})).name, "none");  // a string, never null
  EXPECT_EQ(error_of("{}", {"limit=none"}), "override 'limit=none': field 'limit' must be an integer or null");
  EXPECT_EQ(error_of("{}", {"count"}), "override 'count': expected key=value");
  EXPECT_EQ(error_of("{}", {"=3"}), "override '=3': expected key=value");
  EXPECT_EQ(error_of("{}", {"rat=1"}), "override 'rat=1': unknown key 'rat' (did you mean 'rate'?)");
  EXPECT_EQ(error_of("{}", {"count=-2"}), "c.json (with --set): field 'count' must be >= 0");
}

TEST(ConfigFields, AliasesAreReadButNotWritten) {
  Sample s = value_or_throw(parse(R"({"many": true})"));
  EXPECT_EQ(s.count, 100);
  rapidjson::Document doc = value_or_throw(parse_json(sample_fields().to_json(s), "json"));
  EXPECT_FALSE(doc.HasMember("many"));
  EXPECT_EQ(sample_fields().keys().size(), doc.MemberCount());
}

TEST(ConfigFields, ToJsonParsesBackToTheSameConfig) {
  Sample s = value_or_throw(parse(R"({"limit": 2, "stops": ["a"], "source": {"x": true}, "tags": ["q"]})"));
  std::string once = sample_fields().to_json(s);
  rapidjson::Document doc = value_or_throw(parse_json(once, "once"));
  EXPECT_EQ(sample_fields().to_json(value_or_throw(sample_fields().parse(doc, "once"))), once);
  EXPECT_EQ(sample_fields().to_json(Sample{}),
            R"({"count":3,"rate":0.5,"flag":false,"name":"x","limit":null,"cap":1.5,"tags":[],"stops":null,)"
            R"("source":null})");
}

TEST(ConfigFields, IncludedTablesReadFlatKeysIntoTheMember) {
  static const ConfigFields<Outer> outer = ConfigFields<Outer>("outer config")
                                               .add("label", &Outer::label, "a label")
                                               .include(sample_fields(), &Outer::inner);
  Outer o;
  rapidjson::Document doc = value_or_throw(parse_json(R"({"label": "l", "count": 9, "many": false})", "o.json"));
  ASSERT_TRUE(outer.apply_json(o, doc, "o.json").ok());
  EXPECT_EQ(o.label, "l");
  EXPECT_EQ(o.inner.count, 1);  // "many" came after "count"
  EXPECT_EQ(outer.keys().front(), "label");
  EXPECT_EQ(outer.keys().size(), 1 + sample_fields().keys().size());
  EXPECT_EQ(outer.apply_override(o, "rate=x").message(), "override 'rate=x': field 'rate' must be a number");
}

TEST(ConfigFields, HelpListsEveryKeyWithItsDefault) {
  std::ostringstream out;
  sample_fields().print_help(out);
  std::string help = out.str();
  EXPECT_NE(help.find("  count (an integer; default 3)\n      how many\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  limit (an integer or null; default null)\n"), std::string::npos) << help;
  EXPECT_NE(help.find("  many (true or false)\n      count 100 or 1\n"), std::string::npos) << help;
  for (const std::string& key : sample_fields().keys()) EXPECT_NE(help.find("  " + key + " ("), std::string::npos);
}

// required(): the checks refuse a null, "" or [] value of the key before the
// table's own checks run, name the key and say what it is; help says
// "required" in place of a default; an including table keeps the mark.
TEST(ConfigFields, RequiredKeysMustBeSet) {
  static const ConfigFields<Sample> fields =
      ConfigFields<Sample>("sample config",
                           [](Sample& s) { return s.count >= 0 ? Status() : Status::error("field 'count' must be >= 0"); })
          .add("count", &Sample::count, "how many")
          .add("name", &Sample::name, "who it is")
          .required()
          .add("tags", &Sample::tags, "labels")
          .required()
          .add("cap", &Sample::cap, "ceiling")
          .required();
  auto error = [&](const std::string& text, const std::vector<std::string>& overrides = {}) {
    Result<Sample> s = fields.parse(value_or_throw(parse_json(text, "c.json")), "c.json", overrides);
    return s.ok() ? std::string("ok") : s.status().message();
  };
  EXPECT_EQ(error(R"({"name": "n", "tags": ["a"], "cap": 2.5})"), "ok");
  EXPECT_EQ(error(R"({"count": -1, "name": "", "tags": ["a"], "cap": 1})"),
            "c.json: field 'name' is required: who it is");
  EXPECT_EQ(error(R"({"name": "n", "tags": [], "cap": 1})"), "c.json: field 'tags' is required: labels");
  EXPECT_EQ(error(R"({"name": "n", "tags": ["a"], "cap": null})"), "c.json: field 'cap' is required: ceiling");
  EXPECT_EQ(error(R"({"name": "n", "tags": ["a"], "cap": 1})", {"cap=null"}),
            "c.json (with --set): field 'cap' is required: ceiling");
  EXPECT_EQ(error(R"({"name": "", "tags": ["a"], "cap": 1})", {"name=x"}), "ok");
  EXPECT_EQ(error(R"({"count": -1, "name": "n", "tags": ["a"], "cap": 1})"), "c.json: field 'count' must be >= 0");
  Sample set;
  set.name = "n";
  set.tags = {"a"};
  set.cap.reset();
  EXPECT_EQ(fields.check_required(set).message(), "field 'cap' is required: ceiling");
  std::ostringstream help;
  fields.print_help(help);
  EXPECT_NE(help.str().find("  name (a string; required)\n      who it is\n"), std::string::npos) << help.str();
  EXPECT_NE(help.str().find("  count (an integer; default 3)\n"), std::string::npos) << help.str();
  static const ConfigFields<Outer> outer =
      ConfigFields<Outer>("outer config").add("label", &Outer::label, "a label").include(fields, &Outer::inner);
  Outer o;
  o.inner.name = "n";
  o.inner.tags = {"a"};
  o.inner.cap.reset();
  EXPECT_EQ(outer.finish(o, "o.json").message(), "o.json: field 'cap' is required: ceiling");
}

TEST(ConfigFields, LoadReadsTheFileAndNamesIt) {
  std::string path = ::testing::TempDir() + "/r1_config_fields.json";
  throw_if_error(write_file_atomic(path, R"({"count": 8, "rate": "x"})"));
  EXPECT_EQ(sample_fields().load(path).status().message(), path + ": field 'rate' must be a number");
  throw_if_error(write_file_atomic(path, R"({"count": 8})"));
  EXPECT_EQ(value_or_throw(sample_fields().load(path, {"count=9"})).count, 9);
}

// The checks every config's finish function uses: the first failing rule
// names its key, what it must be and the value it got.
TEST(ConfigFields, RangeChecksNameTheKeyTheRuleAndTheValue) {
  EXPECT_TRUE(check_field_rules({{true, "a", "> 0", 1}, {true, "b", ">= 0", 0}}).ok());
  EXPECT_EQ(
      check_field_rules({{true, "a", "> 0", 1}, {false, "b", "in (0, 1]", 1.5}, {false, "c", "> 0", -1}}).message(),
      "field 'b' must be in (0, 1], got 1.5");
  EXPECT_EQ(check_field_rules({{false, "lr", ">= 0", -1e-6}}).message(), "field 'lr' must be >= 0, got -1e-06");
  EXPECT_TRUE(field_one_of("mode", "b", {"a", "b"}).ok());
  EXPECT_EQ(field_one_of("mode", "x", {"", "a"}).message(), "field 'mode' must be one of '', 'a', got 'x'");
  EXPECT_EQ(format_number(3), "3");
  EXPECT_EQ(format_number(0.25), "0.25");
}

}  // namespace
}  // namespace r1
