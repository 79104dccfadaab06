// One process-wide pool of std::threads that every CPU kernel splits its work over.
#pragma once
#include <cstdint>
#include <functional>

namespace tn {

// Number of threads kernels may use (the caller counts as one). Defaults to TN_NUM_THREADS or the core count.
int num_threads();
void set_num_threads(int n);

// Runs fn(begin, end) over disjoint chunks covering [0, n), up to 16 per thread, each taken by whichever thread
// is free. Chunks hold at least `grain` items, so small problems run inline on the calling thread. Nested calls,
// and calls while another thread owns the pool, also run inline: a kernel may call parallel_for without knowing
// who called it.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace tn
