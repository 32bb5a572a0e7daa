#include "util/cpu_streams.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

namespace r1 {
namespace {

TEST(CpuStreams, CountIsCappedByThreadsAndWork) {
  int threads = at::get_num_threads();
  at::set_num_threads(2);
  EXPECT_EQ(stream_count(0, /*on_cpu=*/true, 8), 2);
  EXPECT_EQ(stream_count(0, /*on_cpu=*/false, 8), 1);
  EXPECT_EQ(stream_count(4, true, 8), 2);  // one per thread at most
  EXPECT_EQ(stream_count(2, true, 1), 1);  // one per work item at most
  at::set_num_threads(threads);
}

// Each stream runs on its own thread with its share of the intra-op threads;
// afterwards the caller's count is back and a stream's exception surfaces.
TEST(CpuStreams, SplitThreadsRestoreThemAndRethrow) {
  int threads = at::get_num_threads();
  at::set_num_threads(2);
  std::atomic<int> single_threaded{0};
  std::thread::id caller = std::this_thread::get_id(), first;
  run_streams(1, [&](int) { first = std::this_thread::get_id(); });
  EXPECT_EQ(first, caller);  // one stream: inline
  run_streams(2, [&](int) {
    EXPECT_NE(std::this_thread::get_id(), caller);
    if (at::get_num_threads() == 1) ++single_threaded;
  });
  EXPECT_EQ(single_threaded.load(), 2);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_THROW(run_streams(2, [](int s) {
                 if (s == 1) throw std::runtime_error("stream 1 failed");
               }),
               std::runtime_error);
  EXPECT_EQ(at::get_num_threads(), 2);
  at::set_num_threads(threads);
}

}  // namespace
}  // namespace r1
