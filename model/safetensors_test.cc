#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "util/file.h"

namespace r1 {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("r1_st_test_" + name)).string();
}

// A file made of a given header and data block.
std::string write_raw(const std::string& name, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header + data;
  std::string path = temp_path(name);
  EXPECT_TRUE(write_file_atomic(path, bytes).ok());
  return path;
}

std::string load_error(const std::string& path) {
  auto r = load_safetensors(path);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST(Safetensors, RoundTripKeepsValuesDtypesAndMetadata) {
  TensorMap tensors{{"a", at::arange(6, at::kFloat).view({2, 3})},
                    {"b", at::tensor({1, 2, 3}, at::kLong)},
                    {"c", at::randn({4}).to(at::kBFloat16)}};
  std::string path = temp_path("roundtrip.safetensors");
  ASSERT_TRUE(save_safetensors(path, tensors).ok());
  auto loaded = load_safetensors(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->metadata.at("format"), "pt");
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(loaded->tensors.count(name));
    EXPECT_EQ(loaded->tensors[name].scalar_type(), t.scalar_type());
    EXPECT_TRUE(at::equal(loaded->tensors[name], t)) << name;
  }
}

TEST(Safetensors, TruncatedFileIsReported) {
  std::string path = temp_path("short.safetensors");
  ASSERT_TRUE(write_file_atomic(path, "abc").ok());
  EXPECT_NE(load_error(path).find("truncated"), std::string::npos);
  std::string big = write_raw("big_header.safetensors", "{}", "");
  std::string bytes = *read_file(big);
  uint64_t huge = 1000;
  std::memcpy(bytes.data(), &huge, 8);
  ASSERT_TRUE(write_file_atomic(big, bytes).ok());
  EXPECT_NE(load_error(big).find("exceeds the file size"), std::string::npos);
}

TEST(Safetensors, BrokenHeaderJsonNamesFileAndPosition) {
  std::string path = write_raw("badjson.safetensors", "{\"a\": {\"dtype\": ", "");
  std::string err = load_error(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("invalid JSON"), std::string::npos) << err;
}

TEST(Safetensors, OffsetsOutsideDataBlockAreReported) {
  std::string path = write_raw(
      "offsets.safetensors", R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}})", std::string(8, '\0'));
  std::string err = load_error(path);
  EXPECT_NE(err.find("tensor 'w'"), std::string::npos) << err;
  EXPECT_NE(err.find("outside the data block"), std::string::npos) << err;
}

TEST(Safetensors, SizeMismatchBetweenShapeAndOffsetsIsReported) {
  std::string path = write_raw(
      "mismatch.safetensors", R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", std::string(8, '\0'));
  EXPECT_NE(load_error(path).find("shape and dtype need 12"), std::string::npos);
}

TEST(Safetensors, UnknownDtypeIsReported) {
  std::string path = write_raw(
      "dtype.safetensors", R"({"w": {"dtype": "F8_E9", "shape": [1], "data_offsets": [0, 1]}})", std::string(8, '\0'));
  std::string err = load_error(path);
  EXPECT_NE(err.find("unknown dtype 'F8_E9'"), std::string::npos) << err;
}

}  // namespace
}  // namespace r1
