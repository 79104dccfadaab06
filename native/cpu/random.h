// Counter-based random fills and dropout: element i is a pure function of (seed, i), so results do not
// depend on the thread count and dropout's backward regenerates its mask from the seed.
#pragma once
#include <cstdint>

namespace tn {

// dst[i] uniform in [lo, hi).
void random_uniform(float* dst, int64_t n, uint64_t seed, float lo, float hi);
// dst[i] normal with the given mean and standard deviation (Box-Muller on pairs of elements).
void random_normal(float* dst, int64_t n, uint64_t seed, float mean, float std);
// out[i] = x[i] / (1 - p) with probability 1 - p, else 0. p = 0 copies, p = 1 zeros. out may alias x.
void dropout_forward(const float* x, float* out, int64_t n, float p, uint64_t seed);

}  // namespace tn
