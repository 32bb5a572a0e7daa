#include "train/run_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "util/file.h"

namespace r1 {
namespace {

std::string fresh_dir(const std::string& name) {
  std::string dir = ::testing::TempDir() + "/r1_run_log_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string line(int step) { return R"({"step":)" + std::to_string(step) + R"(,"loss":0.5})"; }

TEST(MetricsLog, ResumeKeepsTheCheckpointsLinesAndAppends) {
  std::string dir = fresh_dir("resume");
  TrainerState state;
  MetricsLog log = value_or_throw(MetricsLog::open(dir, state));
  for (int step = 1; step <= 2; ++step) throw_if_error(log.append(state, line(step)));
  TrainerState checkpoint = state;             // saved after step 2
  throw_if_error(log.append(state, line(3)));  // logged after the checkpoint, then the run dies

  MetricsLog resumed = value_or_throw(MetricsLog::open(dir, checkpoint));
  EXPECT_EQ(*read_file(dir + "/metrics.jsonl"), line(1) + "\n" + line(2) + "\n");  // step 3 will run again
  throw_if_error(resumed.append(checkpoint, line(3)));
  throw_if_error(resumed.append(checkpoint, line(4)));
  EXPECT_EQ(*read_file(dir + "/metrics.jsonl"), line(1) + "\n" + line(2) + "\n" + line(3) + "\n" + line(4) + "\n");
  EXPECT_EQ(checkpoint.log_history.size(), 4u);
}

TEST(MetricsLog, AFreshStartClearsWhatAKilledRunLeft) {
  std::string dir = fresh_dir("fresh");
  throw_if_error(write_file_atomic(dir + "/metrics.jsonl", line(1) + "\n" + line(2) + "\n"));
  TrainerState state;
  MetricsLog log = value_or_throw(MetricsLog::open(dir, state));
  EXPECT_EQ(*read_file(dir + "/metrics.jsonl"), "");
  throw_if_error(log.append(state, line(1)));
  EXPECT_EQ(*read_file(dir + "/metrics.jsonl"), line(1) + "\n");
}

TEST(MetricsLog, ACutLineAndMissingLinesAreRepaired) {
  std::string dir = fresh_dir("repair");
  TrainerState state;
  state.log_history = {line(1), line(2), line(3)};
  // The file lost its tail: line 2 was cut mid-write and line 3 never came.
  throw_if_error(write_file_atomic(dir + "/metrics.jsonl", line(1) + "\n" + line(2).substr(0, 5)));
  MetricsLog log = value_or_throw(MetricsLog::open(dir, state));
  EXPECT_EQ(*read_file(dir + "/metrics.jsonl"), line(1) + "\n" + line(2) + "\n" + line(3) + "\n");
}

}  // namespace
}  // namespace r1

namespace r1 {
namespace {

// The check values of CRC-32C (RFC 3720, B.4), which TFRecord frames carry.
TEST(TensorBoardLog, Crc32cMatchesTheStandardCheckValues) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8a9136aau);
}

TEST(TensorBoardLog, ReportToNamesWhatItRefuses) {
  EXPECT_TRUE(check_report_to({}).ok());
  EXPECT_TRUE(check_report_to({"none"}).ok());
  EXPECT_TRUE(reports_to_tensorboard({"all"}));
  EXPECT_FALSE(reports_to_tensorboard({"none"}));
  EXPECT_EQ(check_report_to({"tensorboard", "wandb"}).message(),
            "field 'report_to': 'wandb' is not one r1 writes: use \"tensorboard\", \"all\" or \"none\" (metrics.jsonl "
            "is always written, and other trackers can import it)");
}

}  // namespace
}  // namespace r1
