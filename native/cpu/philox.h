// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based RNG,
// so element i of a random stream is a pure function of (seed, stream, i). Dropout masks can then be
// regenerated in the backward instead of stored, and results do not depend on the thread count; the CUDA
// kernels use the same function, so both devices draw the same numbers.
// `static inline`: every translation unit (generic and AVX2) gets its own copy, so no ODR mixing.
#pragma once
#include <math.h>

#include <cstdint>

namespace tn {

struct Philox4 {
  uint32_t v[4];
};

static inline Philox4 philox4x32(uint64_t seed, uint64_t stream, uint64_t counter) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    const uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Draw number i of a stream is word i % 4 of block i / 4. A draw as a uniform in [0, 1) with 24 bits of
// precision (exactly representable in float32):
static inline float philox_word_uniform(uint32_t word) { return static_cast<float>(word >> 8) * (1.0f / 16777216.0f); }

// Dropout with probability p keeps a draw when its uniform is >= p, that is when the integer word >> 8 is at
// least this threshold, ceil(p * 2^24): the same decision made on integers, which vectorises.
static inline int32_t philox_keep_threshold(float p) {
  return static_cast<int32_t>(ceil(static_cast<double>(p) * 16777216.0));
}

// Whether dropout keeps the draw `word`, for threshold = philox_keep_threshold(p).
static inline bool philox_keeps(uint32_t word, int32_t threshold) {
  return static_cast<int32_t>(word >> 8) >= threshold;
}

// Streams keep unrelated uses of one seed independent.
enum PhiloxStream : uint64_t {
  kStreamFill = 1,        // randomFill
  kStreamDropout = 2,     // element-wise dropout
  kStreamAttnDropout = 3  // dropout on attention probabilities, index ((b*H + h)*Tq + i)*Tk + j
};

}  // namespace tn
