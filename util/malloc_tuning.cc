#include "util/malloc_tuning.h"

#include <climits>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace r1 {

void keep_freed_memory_for_reuse() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum; larger blocks are rare (log-prob chunks)
  mallopt(M_TRIM_THRESHOLD, INT_MAX);   // never shrink the heap
  mallopt(M_TOP_PAD, 256 << 20);        // grow it in large steps (untouched pages cost nothing)
#endif
}

}  // namespace r1
