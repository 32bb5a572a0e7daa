// Concurrent streams of work on the CPU, each with its share of the intra-op
// threads. A GRPO step on a small model is a long chain of small ops: with
// one stream, one core dispatches while the other waits at the next barrier.
// Generation splits prompts over streams, the learner micro-batches.
#pragma once

#include <cstdint>
#include <functional>

namespace r1 {

// How many streams to run: `wanted` (0 = 2 on the CPU, 1 elsewhere), at most
// one per intra-op thread and one per work item, at least 1.
int stream_count(int wanted, bool on_cpu, int64_t work_items);

// Runs work(0) on this thread when streams is 1; otherwise
// work(s) for s in [0, streams) each on a thread of its own with
// threads / streams intra-op threads, waits for all, restores the caller's
// thread count and rethrows the first exception. Thread-local state (grad
// or inference mode) must be set inside `work`.
void run_streams(int streams, const std::function<void(int)>& work);

}  // namespace r1
