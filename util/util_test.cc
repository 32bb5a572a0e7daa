#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "util/file.h"
#include "util/json.h"
#include "util/jsonl.h"
#include "util/utf8.h"

namespace r1 {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("r1_util_test_" + name)).string();
}

TEST(Json, ParseErrorNamesLineAndColumn) {
  auto doc = parse_json("{\n  \"a\": 1,\n  \"b\": }", "cfg.json");
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.status().message().find("cfg.json:3:"), std::string::npos) << doc.status().message();
}

TEST(Json, FieldErrorsNameTheKey) {
  auto doc = parse_json(R"({"n": "x", "f": 2.5, "i": 3.0})", "c.json");
  ASSERT_TRUE(doc.ok());
  auto n = json_int(*doc, "n", "c.json");
  EXPECT_EQ(n.status().message(), "c.json: field 'n' must be an integer");
  EXPECT_EQ(json_int(*doc, "missing", "c.json").status().message(), "c.json: field 'missing' is missing");
  EXPECT_FALSE(json_int(*doc, "f", "c.json").ok());
  EXPECT_EQ(*json_int(*doc, "i", "c.json"), 3);
  EXPECT_EQ(*json_int_or(*doc, "absent", 7, "c.json"), 7);
}

TEST(File, AtomicWriteReplacesWholeFile) {
  std::string path = temp_path("atomic.txt");
  ASSERT_TRUE(write_file_atomic(path, "first").ok());
  ASSERT_TRUE(write_file_atomic(path, "second").ok());
  EXPECT_EQ(*read_file(path), "second");
  std::remove(path.c_str());
}

TEST(File, MapReadsContentsAndReportsMissingFile) {
  std::string path = temp_path("map.bin");
  ASSERT_TRUE(write_file_atomic(path, "hello").ok());
  auto mapped = MappedFile::open(path);
  ASSERT_TRUE(mapped.ok());
  EXPECT_EQ(std::string((*mapped)->data(), (*mapped)->size()), "hello");
  std::remove(path.c_str());
  auto missing = MappedFile::open(path);
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(path), std::string::npos);
}

TEST(Jsonl, ReportsLineOfBadRowAndSkipsBlankLines) {
  std::string path = temp_path("rows.jsonl");
  ASSERT_TRUE(write_file_atomic(path, "{\"a\":1}\n\n[1,2]\n").ok());
  auto reader = JsonlReader::open(path);
  ASSERT_TRUE(reader.ok());
  rapidjson::Document doc;
  EXPECT_TRUE(*reader->next(doc));
  EXPECT_EQ(doc["a"].GetInt(), 1);
  auto bad = reader->next(doc);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), path + ":3: expected a JSON object");
  std::remove(path.c_str());
}

TEST(Jsonl, WriterLeavesNothingWithoutCommit) {
  std::string path = temp_path("out.jsonl");
  std::remove(path.c_str());
  {
    auto writer = JsonlWriter::open(path);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(writer->write("{}").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  auto writer = JsonlWriter::open(path);
  ASSERT_TRUE(writer->write("{\"x\":1}").ok());
  ASSERT_TRUE(writer->commit().ok());
  EXPECT_EQ(*read_file(path), "{\"x\":1}\n");
  std::remove(path.c_str());
}

TEST(JsonWriter, WritesNestedValues) {
  JsonWriter w;
  w.begin_object().key("ids").array(std::vector<int64_t>{1, 2}).key("s").value("x\"y").key("nan").value(0.0 / 0.0);
  w.end_object();
  EXPECT_EQ(w.str(), R"({"ids":[1,2],"s":"x\"y","nan":null})");
}

TEST(Utf8, LossyMatchesRustMaximalSubparts) {
  EXPECT_EQ(utf8_lossy("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(utf8_lossy("\xE2\x82"), "\xEF\xBF\xBD");                                 // truncated: one U+FFFD
  EXPECT_EQ(utf8_lossy("\xE2\x82" "a"), "\xEF\xBF\xBD" "a");                         // as Python's decode
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");      // surrogate: three
  EXPECT_EQ(utf8_lossy("\xE2\x82\xAC"), "\xE2\x82\xAC");                              // €
  EXPECT_TRUE(utf8_valid("m\xC2\xB2 \xE2\x82\xAC"));
  EXPECT_FALSE(utf8_valid("\xC0\xAF"));  // overlong '/'
}

TEST(Utf8, CharLengthNeverSplitsACharacter) {
  const std::string s = "a\xE2\x82\xAC\xF0\x9F\x98\x80\xff\xE2\x82";
  EXPECT_EQ(utf8_char_length(s, 0), 1u);
  EXPECT_EQ(utf8_char_length(s, 1), 3u);  // €
  EXPECT_EQ(utf8_char_length(s, 4), 4u);  // 😀
  EXPECT_EQ(utf8_char_length(s, 8), 1u);  // a stray byte stands alone
  EXPECT_EQ(utf8_char_length(s, 9), 1u);  // so does a truncated sequence's first byte
  EXPECT_EQ(utf8_char_length(s, s.size()), 0u);
}

// Whatever bytes reach the writer, its output is valid UTF-8: keys, values,
// raw values and serialised input documents alike.
TEST(JsonWriter, RepairsInvalidUtf8Everywhere) {
  const std::string broken = "1,000.99\xE2\x82 m\xC2";
  JsonWriter w;
  w.begin_object().key("k\xff").value(broken).key("raw").raw("{\"a\":\"\xE2\"}").end_object();
  EXPECT_TRUE(utf8_valid(w.str())) << w.str();
  EXPECT_EQ(w.str(), "{\"k\xEF\xBF\xBD\":\"1,000.99\xEF\xBF\xBD m\xEF\xBF\xBD\",\"raw\":{\"a\":\"\xEF\xBF\xBD\"}}");
  auto doc = parse_json("{\"\xff\": [\"ok \xE2\x82\xAC\", \"bad \xE2\x82\"]}", "in.json");
  ASSERT_TRUE(doc.ok());
  std::string text = json_to_string(*doc);
  EXPECT_TRUE(utf8_valid(text)) << text;
  EXPECT_EQ(text, "{\"\xEF\xBF\xBD\":[\"ok \xE2\x82\xAC\",\"bad \xEF\xBF\xBD\"]}");
}

}  // namespace
}  // namespace r1
