#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "util/file.h"
#include "util/json.h"
#include "util/jsonl.h"

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

}  // namespace
}  // namespace r1
