// Philox4x32-10 on eight counters at once: the same numbers as philox4x32 (philox.h), 8 blocks (32 draws) per
// pass, and dropout applied straight from the registers, so dropout is not bound by the generator.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "philox.h"
#include "random.h"

namespace tn {
namespace {

// 32x32 -> 64-bit products of every lane of a with m: the low and high halves, each back in its own lane.
inline void mul_hi_lo(__m256i a, __m256i m, __m256i* hi, __m256i* lo) {
  const __m256i even = _mm256_mul_epu32(a, m);                        // lanes 0, 2, 4, 6 as 64-bit products
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);  // lanes 1, 3, 5, 7
  *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// Blocks first_block .. first_block + 7, as draws in stream order: out[r] holds draws 8r .. 8r+7 of the 32
// (word w of block b is draw 4b + w).
inline void philox8(uint64_t seed, uint64_t stream, uint64_t first_block, __m256i out[4]) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  // Counter words: the block index's low half per lane; the high half is the same for all 8 lanes unless the
  // low half wraps inside them, which the lane-wise carry below handles.
  const __m256i base_lo = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(first_block)));
  __m256i c0 = _mm256_add_epi32(base_lo, lane);
  const __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(base_lo, _mm256_set1_epi32(INT32_MIN)),
                                           _mm256_xor_si256(c0, _mm256_set1_epi32(INT32_MIN)));  // c0 wrapped
  __m256i c1 = _mm256_sub_epi32(_mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(first_block >> 32))), carry);
  __m256i c2 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
  __m256i c3 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    __m256i hi0, lo0, hi1, lo1;
    mul_hi_lo(c0, m0, &hi0, &lo0);
    mul_hi_lo(c2, m1, &hi1, &lo1);
    c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    c1 = lo1;
    c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // c_w lane b = word w of block b; transpose so that each register holds two whole blocks.
  const __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
  const __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
  const __m256i b04 = _mm256_unpacklo_epi64(t0, t2), b15 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i b26 = _mm256_unpacklo_epi64(t1, t3), b37 = _mm256_unpackhi_epi64(t1, t3);
  out[0] = _mm256_permute2x128_si256(b04, b15, 0x20);
  out[1] = _mm256_permute2x128_si256(b26, b37, 0x20);
  out[2] = _mm256_permute2x128_si256(b04, b15, 0x31);
  out[3] = _mm256_permute2x128_si256(b26, b37, 0x31);
}

}  // namespace

void philox_blocks_avx2(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t nblocks, uint32_t* words) {
  int64_t b = 0;
  for (; b + 8 <= nblocks; b += 8) {
    __m256i r[4];
    philox8(seed, stream, first_block + static_cast<uint64_t>(b), r);
    for (int i = 0; i < 4; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(words + 4 * b + 8 * i), r[i]);
  }
  for (; b < nblocks; ++b) {
    const Philox4 r = philox4x32(seed, stream, first_block + static_cast<uint64_t>(b));
    for (int w = 0; w < 4; ++w) words[4 * b + w] = r.v[w];
  }
}

void dropout_range_avx2(const float* x, float* out, int64_t begin, int64_t end, float p, uint64_t seed,
                        uint64_t stream) {
  const int32_t threshold = philox_keep_threshold(p);
  const float scale = 1.0f / (1.0f - p);
  const __m256i below = _mm256_set1_epi32(threshold - 1);
  const __m256 scale8 = _mm256_set1_ps(scale);
  // Groups of 32 elements start at multiples of 32, so group g is exactly Philox blocks 8g .. 8g+7.
  for (int64_t g0 = begin & ~int64_t(31); g0 < end; g0 += 32) {
    __m256i r[4];
    philox8(seed, stream, static_cast<uint64_t>(g0) >> 2, r);
    if (g0 >= begin && g0 + 32 <= end) {
      for (int i = 0; i < 4; ++i) {
        const __m256i keep = _mm256_cmpgt_epi32(_mm256_srli_epi32(r[i], 8), below);
        const __m256 multiplier = _mm256_and_ps(_mm256_castsi256_ps(keep), scale8);
        // Multiplying by 0 (rather than writing 0) turns NaN and infinity into NaN, as PyTorch's x * mask does.
        _mm256_storeu_ps(out + g0 + 8 * i, _mm256_mul_ps(_mm256_loadu_ps(x + g0 + 8 * i), multiplier));
      }
    } else {  // the partial groups at the ends of the range
      alignas(32) uint32_t words[32];
      for (int i = 0; i < 4; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(words + 8 * i), r[i]);
      for (int64_t i = std::max(begin, g0); i < std::min(end, g0 + 32); ++i)
        out[i] = x[i] * (philox_keeps(words[i - g0], threshold) ? scale : 0.0f);
    }
  }
}

}  // namespace tn
