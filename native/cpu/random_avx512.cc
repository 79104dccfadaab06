// Philox4x32-10 on sixteen counters at once: the same numbers as philox4x32 (philox.h) and the AVX2 generator,
// 16 blocks (64 draws) per pass, and dropout applied straight from the registers.
#include <immintrin.h>
#include <math.h>

#include "philox.h"
#include "random.h"
#include "vec_avx512.h"

namespace tn {
namespace {

// 32x32 -> 64-bit products of every lane of a with m: the low and high halves, each back in its own lane.
inline void mul_hi_lo(__m512i a, __m512i m, __m512i* hi, __m512i* lo) {
  const __m512i even = _mm512_mul_epu32(a, m);                        // lanes 0, 2, ... as 64-bit products
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);  // lanes 1, 3, ...
  *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
}

// Groups of 16 blocks computed side by side, as in random_avx2.cc (the rounds of one group are a chain too long
// for the core to overlap with the next group's).
constexpr int kGroups = 2;

// Blocks first_block + 16g .. first_block + 16g + 15 for g < Groups, as draws in stream order: out[g][r] holds
// draws 16r .. 16r+15 of group g's 64 (word w of block b is draw 4b + w).
template <int Groups = kGroups>
inline void philox16(uint64_t seed, uint64_t stream, uint64_t first_block, __m512i out[][4]) {
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i c0[Groups], c1[Groups], c2[Groups], c3[Groups];
  for (int g = 0; g < Groups; ++g) {
    // Counter words: the block index's low half per lane, plus a carry into the high half in the lanes where
    // the low half wrapped.
    const uint64_t first = first_block + 16 * static_cast<uint64_t>(g);
    const __m512i base_lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first)));
    c0[g] = _mm512_add_epi32(base_lo, lane);
    const __mmask16 wrapped = _mm512_cmplt_epu32_mask(c0[g], base_lo);
    const __m512i base_hi = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first >> 32)));
    c1[g] = _mm512_mask_add_epi32(base_hi, wrapped, base_hi, _mm512_set1_epi32(1));
    c2[g] = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
    c3[g] = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
  }
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m512i key0 = _mm512_set1_epi32(static_cast<int>(k0)), key1 = _mm512_set1_epi32(static_cast<int>(k1));
    for (int g = 0; g < Groups; ++g) {
      __m512i hi0, lo0, hi1, lo1;
      mul_hi_lo(c0[g], m0, &hi0, &lo0);
      mul_hi_lo(c2[g], m1, &hi1, &lo1);
      c0[g] = _mm512_xor_si512(_mm512_xor_si512(hi1, c1[g]), key0);
      c1[g] = lo1;
      c2[g] = _mm512_xor_si512(_mm512_xor_si512(hi0, c3[g]), key1);
      c3[g] = lo0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  for (int g = 0; g < Groups; ++g) {
    // c_w lane b = word w of block b. Within each 128-bit lane l, the unpacks gather whole blocks: x_j holds
    // block 4l + j in lane l. Two rounds of 128-bit shuffles then put blocks 4r .. 4r+3 into out[g][r].
    const __m512i t0 = _mm512_unpacklo_epi32(c0[g], c1[g]), t1 = _mm512_unpackhi_epi32(c0[g], c1[g]);
    const __m512i t2 = _mm512_unpacklo_epi32(c2[g], c3[g]), t3 = _mm512_unpackhi_epi32(c2[g], c3[g]);
    const __m512i x0 = _mm512_unpacklo_epi64(t0, t2), x1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i x2 = _mm512_unpacklo_epi64(t1, t3), x3 = _mm512_unpackhi_epi64(t1, t3);
    const __m512i a = _mm512_shuffle_i32x4(x0, x1, 0x44);  // blocks 0, 4, 1, 5
    const __m512i b = _mm512_shuffle_i32x4(x2, x3, 0x44);  // blocks 2, 6, 3, 7
    const __m512i c = _mm512_shuffle_i32x4(x0, x1, 0xEE);  // blocks 8, 12, 9, 13
    const __m512i d = _mm512_shuffle_i32x4(x2, x3, 0xEE);  // blocks 10, 14, 11, 15
    out[g][0] = _mm512_shuffle_i32x4(a, b, 0x88);
    out[g][1] = _mm512_shuffle_i32x4(a, b, 0xDD);
    out[g][2] = _mm512_shuffle_i32x4(c, d, 0x88);
    out[g][3] = _mm512_shuffle_i32x4(c, d, 0xDD);
  }
}

}  // namespace

void philox_blocks_avx512(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t nblocks, uint32_t* words) {
  int64_t b = 0;
  for (; b + 16 * kGroups <= nblocks; b += 16 * kGroups) {
    __m512i r[kGroups][4];
    philox16(seed, stream, first_block + static_cast<uint64_t>(b), r);
    for (int g = 0; g < kGroups; ++g)
      for (int i = 0; i < 4; ++i) _mm512_storeu_si512(words + 4 * (b + 16 * g) + 16 * i, r[g][i]);
  }
  // Whole groups left over are drawn alone, not beside a group that would be thrown away: a short run, such as
  // a row of 64 attention keys, is often one group.
  for (; b + 16 <= nblocks; b += 16) {
    __m512i r[1][4];
    philox16<1>(seed, stream, first_block + static_cast<uint64_t>(b), r);
    for (int i = 0; i < 4; ++i) _mm512_storeu_si512(words + 4 * b + 16 * i, r[0][i]);
  }
  for (; b < nblocks; ++b) {
    const Philox4 r = philox4x32(seed, stream, first_block + static_cast<uint64_t>(b));
    for (int w = 0; w < 4; ++w) words[4 * b + w] = r.v[w];
  }
}

void dropout_range_avx512(const float* x, float* out, int64_t begin, int64_t end, float p, uint64_t seed,
                          uint64_t stream) {
  const int32_t threshold = philox_keep_threshold(p);
  const float scale = 1.0f / (1.0f - p);
  const __m512i below = _mm512_set1_epi32(threshold - 1);
  const __m512 scale16 = _mm512_set1_ps(scale);
  // Groups of 64 elements start at multiples of 64, so group q is exactly Philox blocks 16q .. 16q+15; kGroups
  // of them are drawn at a time.
  constexpr int64_t kSpan = 64 * kGroups;
  for (int64_t g0 = begin & ~int64_t(63); g0 < end; g0 += kSpan) {
    __m512i r[kGroups][4];
    philox16(seed, stream, static_cast<uint64_t>(g0) >> 2, r);
    for (int g = 0; g < kGroups; ++g) {
      const int64_t q0 = g0 + 64 * g;
      if (q0 >= begin && q0 + 64 <= end) {
        for (int i = 0; i < 4; ++i) {
          const __mmask16 keep = _mm512_cmpgt_epi32_mask(_mm512_srli_epi32(r[g][i], 8), below);
          // Multiplying by 0 (rather than writing 0) turns NaN and infinity into NaN, as PyTorch's x * mask does.
          const __m512 multiplier = _mm512_maskz_mov_ps(keep, scale16);
          _mm512_storeu_ps(out + q0 + 16 * i, _mm512_mul_ps(_mm512_loadu_ps(x + q0 + 16 * i), multiplier));
        }
      } else if (q0 < end) {  // the partial groups at the ends of the range
        alignas(64) uint32_t words[64];
        for (int i = 0; i < 4; ++i) _mm512_store_si512(words + 16 * i, r[g][i]);
        // No std::max/min here: an AVX-512 copy of such an inline template could be linked into other paths.
        const int64_t first = begin > q0 ? begin : q0, last = end < q0 + 64 ? end : q0 + 64;
        for (int64_t i = first; i < last; ++i) out[i] = x[i] * (philox_keeps(words[i - q0], threshold) ? scale : 0.0f);
      }
    }
  }
}

}  // namespace tn
