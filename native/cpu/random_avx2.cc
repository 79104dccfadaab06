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

// Groups of 8 blocks computed side by side: the ten rounds are one chain of dependent multiplies and shuffles,
// longer than the core can overlap with the next group's on its own (g++ does not interleave them either), so
// one group at a time ran at the chain's latency.
constexpr int kGroups = 2;

// Blocks first_block + 8g .. first_block + 8g + 7 for g < Groups, as draws in stream order: out[g][r] holds
// draws 8r .. 8r+7 of group g's 32 (word w of block b is draw 4b + w).
template <int Groups = kGroups>
inline void philox8(uint64_t seed, uint64_t stream, uint64_t first_block, __m256i out[][4]) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i sign = _mm256_set1_epi32(INT32_MIN);
  __m256i c0[Groups], c1[Groups], c2[Groups], c3[Groups];
  for (int g = 0; g < Groups; ++g) {
    // Counter words: the block index's low half per lane; the high half is the same for all 8 lanes unless the
    // low half wraps inside them, which the lane-wise carry below handles.
    const uint64_t first = first_block + 8 * static_cast<uint64_t>(g);
    const __m256i base_lo = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(first)));
    c0[g] = _mm256_add_epi32(base_lo, lane);
    const __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(base_lo, sign), _mm256_xor_si256(c0[g], sign));
    c1[g] = _mm256_sub_epi32(_mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(first >> 32))), carry);
    c2[g] = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
    c3[g] = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
  }
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m256i key0 = _mm256_set1_epi32(static_cast<int>(k0)), key1 = _mm256_set1_epi32(static_cast<int>(k1));
    for (int g = 0; g < Groups; ++g) {
      __m256i hi0, lo0, hi1, lo1;
      mul_hi_lo(c0[g], m0, &hi0, &lo0);
      mul_hi_lo(c2[g], m1, &hi1, &lo1);
      c0[g] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[g]), key0);
      c1[g] = lo1;
      c2[g] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[g]), key1);
      c3[g] = lo0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int g = 0; g < Groups; ++g) {
    // c_w lane b = word w of block b; transpose so that each register holds two whole blocks.
    const __m256i t0 = _mm256_unpacklo_epi32(c0[g], c1[g]), t1 = _mm256_unpackhi_epi32(c0[g], c1[g]);
    const __m256i t2 = _mm256_unpacklo_epi32(c2[g], c3[g]), t3 = _mm256_unpackhi_epi32(c2[g], c3[g]);
    const __m256i b04 = _mm256_unpacklo_epi64(t0, t2), b15 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i b26 = _mm256_unpacklo_epi64(t1, t3), b37 = _mm256_unpackhi_epi64(t1, t3);
    out[g][0] = _mm256_permute2x128_si256(b04, b15, 0x20);
    out[g][1] = _mm256_permute2x128_si256(b26, b37, 0x20);
    out[g][2] = _mm256_permute2x128_si256(b04, b15, 0x31);
    out[g][3] = _mm256_permute2x128_si256(b26, b37, 0x31);
  }
}

}  // namespace

void philox_blocks_avx2(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t nblocks, uint32_t* words) {
  int64_t b = 0;
  for (; b + 8 * kGroups <= nblocks; b += 8 * kGroups) {
    __m256i r[kGroups][4];
    philox8(seed, stream, first_block + static_cast<uint64_t>(b), r);
    for (int g = 0; g < kGroups; ++g)
      for (int i = 0; i < 4; ++i)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(words + 4 * (b + 8 * g) + 8 * i), r[g][i]);
  }
  // Whole groups left over are drawn alone, not beside a group that would be thrown away: a short run, such as
  // a row of 32 attention keys, is often one group.
  for (; b + 8 <= nblocks; b += 8) {
    __m256i r[1][4];
    philox8<1>(seed, stream, first_block + static_cast<uint64_t>(b), r);
    for (int i = 0; i < 4; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(words + 4 * b + 8 * i), r[0][i]);
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
  // Groups of 32 elements start at multiples of 32, so group q is exactly Philox blocks 8q .. 8q+7; kGroups of
  // them are drawn at a time.
  constexpr int64_t kSpan = 32 * kGroups;
  for (int64_t g0 = begin & ~int64_t(31); g0 < end; g0 += kSpan) {
    __m256i r[kGroups][4];
    philox8(seed, stream, static_cast<uint64_t>(g0) >> 2, r);
    for (int g = 0; g < kGroups; ++g) {
      const int64_t q0 = g0 + 32 * g;
      if (q0 >= begin && q0 + 32 <= end) {
        for (int i = 0; i < 4; ++i) {
          const __m256i keep = _mm256_cmpgt_epi32(_mm256_srli_epi32(r[g][i], 8), below);
          const __m256 multiplier = _mm256_and_ps(_mm256_castsi256_ps(keep), scale8);
          // Multiplying by 0 (rather than writing 0) turns NaN and infinity into NaN, as PyTorch's x * mask does.
          _mm256_storeu_ps(out + q0 + 8 * i, _mm256_mul_ps(_mm256_loadu_ps(x + q0 + 8 * i), multiplier));
        }
      } else if (q0 < end) {  // the partial groups at the ends of the range
        alignas(32) uint32_t words[32];
        for (int i = 0; i < 4; ++i) _mm256_store_si256(reinterpret_cast<__m256i*>(words + 8 * i), r[g][i]);
        for (int64_t i = std::max(begin, q0); i < std::min(end, q0 + 32); ++i)
          out[i] = x[i] * (philox_keeps(words[i - q0], threshold) ? scale : 0.0f);
      }
    }
  }
}

}  // namespace tn
