#include "util/process.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

namespace r1 {
namespace {

std::string error_of(const char* rank, const char* world_size) {
  Result<ProcessInfo> p = parse_process_info(rank, world_size);
  return p.ok() ? "ok" : p.status().message();
}

TEST(Process, UnsetMeansRankZeroOfOne) {
  ProcessInfo p = value_or_throw(parse_process_info(nullptr, nullptr));
  EXPECT_EQ(p.rank, 0);
  EXPECT_EQ(p.world_size, 1);
  EXPECT_TRUE(p.writes_run_folder());
  p = value_or_throw(parse_process_info("0", "1"));
  EXPECT_EQ(p.rank, 0);
  EXPECT_EQ(p.world_size, 1);
}

TEST(Process, OtherWorldSizesAndBadValuesAreErrors) {
  EXPECT_EQ(error_of("0", "2"),
            "WORLD_SIZE=2: r1 runs as one process for now (data-parallel training is not implemented yet); unset RANK and "
            "WORLD_SIZE, or launch one process");
  EXPECT_EQ(error_of("1", nullptr), "RANK=1 is not below WORLD_SIZE=1");
  EXPECT_EQ(error_of("x", "1"), "RANK='x': expected a whole number >= 0");
  EXPECT_EQ(error_of("0", "-1"), "WORLD_SIZE='-1': expected a whole number >= 0");
  EXPECT_EQ(error_of("0", "0"), "WORLD_SIZE=0: expected at least 1 process");
}

TEST(Process, ReadsTheEnvironment) {
  ::setenv("WORLD_SIZE", "3", 1);
  EXPECT_FALSE(process_info_from_env().ok());
  ::unsetenv("WORLD_SIZE");
  EXPECT_TRUE(process_info_from_env().ok());
}

TEST(Process, ResourceDirPrefersTheEnvironmentThenTheBinary) {
  std::string exe = executable_dir();
  ASSERT_FALSE(exe.empty());
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(exe) / "util_test"));
  ::setenv("R1_TEST_RESOURCE", "/given/as/is", 1);
  EXPECT_EQ(resource_dir("R1_TEST_RESOURCE", {"."}), "/given/as/is");
  ::unsetenv("R1_TEST_RESOURCE");
  EXPECT_EQ(resource_dir("R1_TEST_RESOURCE", {"no/such/dir", "."}),
            std::filesystem::path(exe).lexically_normal().string() + "/");
  EXPECT_EQ(resource_dir("R1_TEST_RESOURCE", {"no/such/dir"}), "");
}

}  // namespace
}  // namespace r1
