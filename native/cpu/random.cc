#include "random.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "isa.h"
#include "philox.h"
#include "threadpool.h"

namespace tn {
namespace {

constexpr int64_t kGrain = 16384;  // elements per thread below which splitting costs more than it saves
constexpr float kTwoPi = 6.28318530717958648f;

// Runs fn(i0, count, words) over [begin, end) in batches, words holding the draws of elements i0 .. i0+count-1.
template <class F>
void for_each_batch(uint64_t seed, uint64_t stream, int64_t begin, int64_t end, F fn) {
  uint32_t words[kPhiloxMaxDraws];
  for (int64_t i0 = begin; i0 < end; i0 += kPhiloxMaxDraws) {
    const int64_t count = std::min(kPhiloxMaxDraws, end - i0);
    philox_draws(seed, stream, i0, count, words);
    fn(i0, count, words);
  }
}

}  // namespace

void philox_draws(uint64_t seed, uint64_t stream, int64_t start, int64_t count, uint32_t* words) {
  // Whole blocks are generated and the partial ends trimmed; the AVX2 (AVX-512) generator runs 8 (16) blocks per
  // pass, so its share is rounded up to a multiple of 8 (16): short runs, such as a 24-key row of attention,
  // stay vectorised.
  uint32_t blocks[kPhiloxMaxDraws + 64];
  const int64_t first = start & ~int64_t(3);
  const int64_t nblocks = (start + count - first + 3) / 4;
  const uint64_t first_block = static_cast<uint64_t>(first) >> 2;
#ifdef TN_HAVE_AVX512
  if (active_isa() == Isa::avx512)
    philox_blocks_avx512(seed, stream, first_block, (nblocks + 15) / 16 * 16, blocks);
  else
#endif
#ifdef TN_HAVE_AVX2
      if (use_avx2_kernels())
    philox_blocks_avx2(seed, stream, first_block, (nblocks + 7) / 8 * 8, blocks);
  else
#endif
    philox_blocks_generic(seed, stream, first_block, nblocks, blocks);
  std::memcpy(words, blocks + (start - first), count * sizeof(uint32_t));
}

void philox_blocks_generic(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t nblocks, uint32_t* words) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const Philox4 r = philox4x32(seed, stream, first_block + static_cast<uint64_t>(b));
    std::memcpy(words + 4 * b, r.v, sizeof r.v);
  }
}

void random_uniform(float* dst, int64_t n, uint64_t seed, float lo, float hi) {
  const float width = hi - lo;
  // Rounding can land exactly on hi; the largest float below it keeps the interval half-open.
  const float top = hi > lo ? std::nextafter(hi, lo) : hi;
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for_each_batch(seed, kStreamFill, begin, end, [&](int64_t i0, int64_t count, const uint32_t* words) {
      for (int64_t j = 0; j < count; ++j) dst[i0 + j] = std::min(lo + width * philox_word_uniform(words[j]), top);
    });
  });
}

void random_normal(float* dst, int64_t n, uint64_t seed, float mean, float std) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    // Draws 2k and 2k+1 make one Box-Muller pair; element 2k takes its cosine and 2k+1 its sine, so batches
    // start on even elements. 1 - u keeps the logarithm's argument in (0, 1].
    const int64_t even_begin = begin & ~int64_t(1);
    for_each_batch(seed, kStreamFill, even_begin, end + (end & 1),
                   [&](int64_t i0, int64_t count, const uint32_t* words) {
                     for (int64_t j = 0; j < count; j += 2) {
                       const float radius = std::sqrt(-2.0f * std::log(1.0f - philox_word_uniform(words[j])));
                       const float angle = kTwoPi * philox_word_uniform(words[j + 1]);
                       const int64_t i = i0 + j;
                       if (i >= begin) dst[i] = mean + std * radius * std::cos(angle);
                       if (i + 1 < end) dst[i + 1] = mean + std * radius * std::sin(angle);
                     }
                   });
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
#ifdef TN_HAVE_AVX512
    if (active_isa() == Isa::avx512) {
      dropout_range_avx512(x, out, begin, end, p, seed, kStreamDropout);
      return;
    }
#endif
#ifdef TN_HAVE_AVX2
    if (use_avx2_kernels()) {
      dropout_range_avx2(x, out, begin, end, p, seed, kStreamDropout);
      return;
    }
#endif
    const int32_t threshold = philox_keep_threshold(p);
    for_each_batch(seed, kStreamDropout, begin, end, [&](int64_t i0, int64_t count, const uint32_t* words) {
      const float* xs = x + i0;
      float* o = out + i0;
      // Multiplying by 0 (rather than writing 0) drops NaN and infinity to NaN, as PyTorch's x * mask * scale does.
      for (int64_t j = 0; j < count; ++j) o[j] = xs[j] * (philox_keeps(words[j], threshold) ? scale : 0.0f);
    });
  });
}

}  // namespace tn
