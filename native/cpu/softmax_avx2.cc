#include <immintrin.h>

#include "softmax.h"
#include "vec_avx2.h"

namespace tn {

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
