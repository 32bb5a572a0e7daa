// glibc malloc settings for a process that allocates and frees tensors of
// the same few sizes thousands of times a second.
#pragma once

namespace r1 {

// By default glibc serves large blocks with mmap and hands them back to the
// kernel on free, so nearly every op's output arrives as fresh pages that
// must be faulted in and zeroed (measured: ~20% of a bf16 GRPO update, ~25%
// of bf16 decoding on the 2-core CPU). This keeps freed memory in the heap
// for reuse instead, as jemalloc or tcmalloc would (same measured gain); the
// resident set then stays at its peak. Call first thing in main().
void keep_freed_memory_for_reuse();

}  // namespace r1
