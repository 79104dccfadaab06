#include "random.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "philox.h"
#include "threadpool.h"

namespace tn {

constexpr int64_t kGrain = 16384;  // elements per thread below which splitting costs more than it saves

void random_uniform(float* dst, int64_t n, uint64_t seed, float lo, float hi) {
  const float width = hi - lo;
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float v = lo + width * philox_uniform(seed, kStreamFill, static_cast<uint64_t>(i));
      // Rounding can land exactly on hi; step back inside the half-open interval.
      if (v >= hi && hi > lo) v = std::nextafter(hi, lo);
      dst[i] = v;
    }
  });
}

void random_normal(float* dst, int64_t n, uint64_t seed, float mean, float std) {
  const double two_pi = 6.283185307179586;
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      // Elements 2k and 2k+1 are the cosine and sine halves of one Box-Muller pair, drawn from block k's words
      // 0 and 1; 1 - u keeps the logarithm's argument in (0, 1].
      const uint64_t pair = static_cast<uint64_t>(i) >> 1;
      const Philox4 r = philox4x32(seed, kStreamFill, pair);
      const double u1 = 1.0 - static_cast<double>(r.v[0] >> 8) * (1.0 / 16777216.0);
      const double u2 = static_cast<double>(r.v[1] >> 8) * (1.0 / 16777216.0);
      const double radius = std::sqrt(-2.0 * std::log(u1));
      const double z = (i & 1) ? radius * std::sin(two_pi * u2) : radius * std::cos(two_pi * u2);
      dst[i] = static_cast<float>(mean + std * z);
    }
  });
}

void dropout_forward(const float* x, float* out, int64_t n, float p, uint64_t seed) {
  if (p == 0.0f) {
    if (out != x) parallel_for(n, kGrain, [&](int64_t b, int64_t e) { std::memmove(out + b, x + b, (e - b) * 4); });
    return;
  }
  if (p >= 1.0f) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) { std::fill(out + b, out + e, 0.0f); });
    return;
  }
  const float scale = 1.0f / (1.0f - p);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const bool keep = philox_uniform(seed, kStreamDropout, static_cast<uint64_t>(i)) >= p;
      out[i] = keep ? x[i] * scale : 0.0f;
    }
  });
}

}  // namespace tn
