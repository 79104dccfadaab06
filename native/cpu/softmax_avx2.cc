#include <immintrin.h>

#include "softmax.h"
#include "vec_avx2.h"

namespace tn {
namespace {

// exp(x) = 2^k * exp(r) with k = round(x / ln 2) and |r| <= ln(2) / 2, where the Taylor series of exp(r) to
// degree 7 is within 1e-8 relative; 2^k is built directly in the exponent bits. x is clamped to [-87.3, 88.3]
// so that 2^k stays a normal float: below that the result is 0 (so exp(-inf) = 0), above it about 2e38 rather
// than inf (callers here only pass shifted logits and log-probabilities, which are <= 0). NaN stays NaN.
inline __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f);
  const __m256 xc = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(lo, x));  // operand order keeps NaN
  // Adding 1.5 * 2^23 rounds x / ln2 to an integer k held in the low mantissa bits.
  const __m256 magic = _mm256_set1_ps(12582912.0f);
  const __m256 k_magic = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504f), magic);
  const __m256 k = _mm256_sub_ps(k_magic, magic);
  // r = x - k ln2 with ln2 split in two so that k * ln2_hi is exact.
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // The low bits of k_magic are k (two's complement); shifting k + 127 into the exponent field drops the rest.
  const __m256i two_k = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(k_magic), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(two_k));
  return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), result);
}

}  // namespace

float row_max_avx2(const float* x, int64_t n) {
  __m256 max0 = _mm256_set1_ps(x[0]), max1 = max0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    max0 = _mm256_max_ps(max0, _mm256_loadu_ps(x + i));
    max1 = _mm256_max_ps(max1, _mm256_loadu_ps(x + i + 8));
  }
  // The tail's empty lanes take max1's values, which cannot change the maximum.
  for (; i < n; i += 8) {
    const __m256i mask = tail_mask(n - i);
    max0 = _mm256_max_ps(max0, _mm256_blendv_ps(max1, _mm256_maskload_ps(x + i, mask), _mm256_castsi256_ps(mask)));
  }
  max0 = _mm256_max_ps(max0, max1);
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(max0), _mm256_extractf128_ps(max0, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

float row_sum_avx2(const float* x, int64_t n) {
  __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    sum0 = _mm256_add_ps(sum0, _mm256_loadu_ps(x + i));
    sum1 = _mm256_add_ps(sum1, _mm256_loadu_ps(x + i + 8));
  }
  for (; i < n; i += 8) sum0 = _mm256_add_ps(sum0, _mm256_maskload_ps(x + i, tail_mask(n - i)));
  return hsum(_mm256_add_ps(sum0, sum1));
}

float row_dot_avx2(const float* a, const float* b, int64_t n) {
  __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    sum0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), sum0);
    sum1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), sum1);
  }
  for (; i < n; i += 8) {
    const __m256i mask = tail_mask(n - i);
    sum0 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, mask), _mm256_maskload_ps(b + i, mask), sum0);
  }
  return hsum(_mm256_add_ps(sum0, sum1));
}

float row_sum_exp_avx2(const float* x, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  for_each_vector(n, [&](int64_t i, bool full, __m256i mask) {
    sum = _mm256_add_ps(sum, keep(exp8(_mm256_sub_ps(load(x + i, full, mask), s)), full, mask));
  });
  return hsum(sum);
}

float row_exp_sum_avx2(float* out, const float* x, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  for_each_vector(n, [&](int64_t i, bool full, __m256i mask) {
    const __m256 e = keep(exp8(_mm256_sub_ps(load(x + i, full, mask), s)), full, mask);
    store(out + i, e, full, mask);
    sum = _mm256_add_ps(sum, e);
  });
  return hsum(sum);
}

void row_exp_affine_avx2(float* out, const float* x, int64_t n, float shift, float scale, float add) {
  const __m256 s = _mm256_set1_ps(shift), a = _mm256_set1_ps(scale), b = _mm256_set1_ps(add);
  for_each_vector(n, [&](int64_t i, bool full, __m256i mask) {
    store(out + i, _mm256_fmadd_ps(a, exp8(_mm256_sub_ps(load(x + i, full, mask), s)), b), full, mask);
  });
}

void row_sub_scaled_exp_avx2(float* out, const float* a, const float* y, int64_t n, float s) {
  const __m256 sv = _mm256_set1_ps(s);
  for_each_vector(n, [&](int64_t i, bool full, __m256i mask) {
    store(out + i, _mm256_fnmadd_ps(sv, exp8(load(y + i, full, mask)), load(a + i, full, mask)), full, mask);
  });
}

void cols_exp_sum_avx2(float* out, float* sum, const float* x, const float* shift, int64_t n) {
  for_each_vector(n, [&](int64_t j, bool full, __m256i mask) {
    const __m256 e = exp8(_mm256_sub_ps(load(x + j, full, mask), load(shift + j, full, mask)));
    store(out + j, e, full, mask);
    store(sum + j, _mm256_add_ps(load(sum + j, full, mask), e), full, mask);
  });
}

void cols_sub_scaled_exp_avx2(float* out, const float* a, const float* y, const float* s, int64_t n) {
  for_each_vector(n, [&](int64_t j, bool full, __m256i mask) {
    const __m256 v = _mm256_fnmadd_ps(load(s + j, full, mask), exp8(load(y + j, full, mask)), load(a + j, full, mask));
    store(out + j, v, full, mask);
  });
}

}  // namespace tn
