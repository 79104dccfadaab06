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

// Blocks first_block .. first_block + 15, as draws in stream order: out[r] holds draws 16r .. 16r+15 of the 64
// (word w of block b is draw 4b + w).
inline void philox16(uint64_t seed, uint64_t stream, uint64_t first_block, __m512i out[4]) {
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  // Counter words: the block index's low half per lane, plus a carry into the high half in the lanes where
  // the low half wrapped.
  const __m512i base_lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first_block)));
  __m512i c0 = _mm512_add_epi32(base_lo, lane);
  const __mmask16 wrapped = _mm512_cmplt_epu32_mask(c0, base_lo);
  const __m512i base_hi = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(first_block >> 32)));
  __m512i c1 = _mm512_mask_add_epi32(base_hi, wrapped, base_hi, _mm512_set1_epi32(1));
  __m512i c2 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream)));
  __m512i c3 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(stream >> 32)));
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    __m512i hi0, lo0, hi1, lo1;
    mul_hi_lo(c0, m0, &hi0, &lo0);
    mul_hi_lo(c2, m1, &hi1, &lo1);
    c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(static_cast<int>(k0)));
    c1 = lo1;
    c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(static_cast<int>(k1)));
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // c_w lane b = word w of block b. Within each 128-bit lane l, the unpacks gather whole blocks: x_j holds
  // block 4l + j in lane l. Two rounds of 128-bit shuffles then put blocks 4r .. 4r+3 into out[r].
  const __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
  const __m512i t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
  const __m512i x0 = _mm512_unpacklo_epi64(t0, t2), x1 = _mm512_unpackhi_epi64(t0, t2);
  const __m512i x2 = _mm512_unpacklo_epi64(t1, t3), x3 = _mm512_unpackhi_epi64(t1, t3);
  const __m512i a = _mm512_shuffle_i32x4(x0, x1, 0x44);  // blocks 0, 4, 1, 5
  const __m512i b = _mm512_shuffle_i32x4(x2, x3, 0x44);  // blocks 2, 6, 3, 7
  const __m512i c = _mm512_shuffle_i32x4(x0, x1, 0xEE);  // blocks 8, 12, 9, 13
  const __m512i d = _mm512_shuffle_i32x4(x2, x3, 0xEE);  // blocks 10, 14, 11, 15
  out[0] = _mm512_shuffle_i32x4(a, b, 0x88);
  out[1] = _mm512_shuffle_i32x4(a, b, 0xDD);
  out[2] = _mm512_shuffle_i32x4(c, d, 0x88);
  out[3] = _mm512_shuffle_i32x4(c, d, 0xDD);
}

}  // namespace

void philox_blocks_avx512(uint64_t seed, uint64_t stream, uint64_t first_block, int64_t nblocks, uint32_t* words) {
  int64_t b = 0;
  for (; b + 16 <= nblocks; b += 16) {
    __m512i r[4];
    philox16(seed, stream, first_block + static_cast<uint64_t>(b), r);
    for (int i = 0; i < 4; ++i) _mm512_storeu_si512(words + 4 * b + 16 * i, r[i]);
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
  // Groups of 64 elements start at multiples of 64, so group g is exactly Philox blocks 16g .. 16g+15.
  for (int64_t g0 = begin & ~int64_t(63); g0 < end; g0 += 64) {
    __m512i r[4];
    philox16(seed, stream, static_cast<uint64_t>(g0) >> 2, r);
    if (g0 >= begin && g0 + 64 <= end) {
      for (int i = 0; i < 4; ++i) {
        const __mmask16 keep = _mm512_cmpgt_epi32_mask(_mm512_srli_epi32(r[i], 8), below);
        // Multiplying by 0 (rather than writing 0) turns NaN and infinity into NaN, as PyTorch's x * mask does.
        const __m512 multiplier = _mm512_maskz_mov_ps(keep, scale16);
        _mm512_storeu_ps(out + g0 + 16 * i, _mm512_mul_ps(_mm512_loadu_ps(x + g0 + 16 * i), multiplier));
      }
    } else {  // the partial groups at the ends of the range
      alignas(64) uint32_t words[64];
      for (int i = 0; i < 4; ++i) _mm512_store_si512(words + 16 * i, r[i]);
      // No std::max/min here: an AVX-512 copy of such an inline template could be linked into other paths.
      const int64_t first = begin > g0 ? begin : g0, last = end < g0 + 64 ? end : g0 + 64;
      for (int64_t i = first; i < last; ++i) out[i] = x[i] * (philox_keeps(words[i - g0], threshold) ? scale : 0.0f);
    }
  }
}

}  // namespace tn
