// Micro-kernels that measure this machine's limits, so benchmarks report a fraction of what is possible.
#pragma once
#include <cstdint>

namespace tn {

// Runs `iters` rounds of 12 independent 8-wide FMA chains (12 * 8 lanes * 2 flops per round) and returns a
// value that depends on every chain, so the loop cannot be optimised away.
float fma_chains_avx2(int64_t iters);
// The same with 16-wide chains (12 * 16 lanes * 2 flops per round).
float fma_chains_avx512(int64_t iters);
float fma_chains_generic(int64_t iters);

// Sustained fp32 FMA GFLOP/s with `threads` threads (each runs the chains for about `seconds`).
double measure_fma_gflops(int threads, double seconds);
// Sustained triad bandwidth a[i] = b[i] + s * c[i] in GB/s over arrays of `bytes_per_array` each.
double measure_triad_gbs(int threads, int64_t bytes_per_array, int repeats);

}  // namespace tn
