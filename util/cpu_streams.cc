#include "util/cpu_streams.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <exception>
#include <future>
#include <vector>

namespace r1 {

int stream_count(int wanted, bool on_cpu, int64_t work_items) {
  if (wanted == 0) wanted = on_cpu ? 2 : 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({wanted, at::get_num_threads(), work_items})));
}

void run_streams(int streams, const std::function<void(int)>& work) {
  if (streams <= 1) return work(0);  // on this thread, as it is
  int threads = at::get_num_threads();
  std::vector<std::future<void>> running;
  for (int s = 0; s < streams; ++s)
    running.push_back(std::async(std::launch::async, [&, s] {
      at::set_num_threads(std::max(1, threads / streams));
      work(s);
    }));
  std::exception_ptr failure;
  for (auto& r : running) {
    try {
      r.get();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  at::set_num_threads(threads);  // the streams set the process-wide default for new threads
  if (failure) std::rethrow_exception(failure);
}

}  // namespace r1
