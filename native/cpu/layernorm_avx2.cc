// No inline library templates (std::max, std::sqrt) here: an AVX2-compiled copy of one could be picked by the
// linker for the generic path too.
#include <immintrin.h>
#include <math.h>

#include "layernorm.h"
#include "vec_avx2.h"

namespace tn {

void layernorm_forward_row_avx2(float* out, float* mean_out, float* rstd_out, const float* x, const float* weight,
                                const float* bias, int64_t C, float eps) {
  // Same shifted sums as the generic path, with two accumulator pairs to hide the add latency.
  const __m256 shift = _mm256_set1_ps(x[0]);
  __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
  __m256 sq0 = _mm256_setzero_ps(), sq1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= C; i += 16) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), shift);
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), shift);
    sum0 = _mm256_add_ps(sum0, d0);
    sum1 = _mm256_add_ps(sum1, d1);
    sq0 = _mm256_fmadd_ps(d0, d0, sq0);
    sq1 = _mm256_fmadd_ps(d1, d1, sq1);
  }
  for (; i < C; i += 8) {
    const __m256i mask = tail_mask(C - i);
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), shift), _mm256_castsi256_ps(mask));
    sum0 = _mm256_add_ps(sum0, d);
    sq0 = _mm256_fmadd_ps(d, d, sq0);
  }
  const float mean_d = hsum(_mm256_add_ps(sum0, sum1)) / static_cast<float>(C);
  const float var = hsum(_mm256_add_ps(sq0, sq1)) / static_cast<float>(C) - mean_d * mean_d;
  const float mean = x[0] + mean_d;
  const float rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);
  *mean_out = mean;
  *rstd_out = rstd;

  // (x - mean) * rstd rather than x * rstd - mean * rstd: the latter cancels when |mean| >> std.
  const __m256 mean_v = _mm256_set1_ps(mean), scale = _mm256_set1_ps(rstd);
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  for_each_vector(C, [&](int64_t i, bool full, __m256i mask) {
    const __m256 w = weight ? load(weight + i, full, mask) : one;
    const __m256 b = bias ? load(bias + i, full, mask) : zero;
    const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(load(x + i, full, mask), mean_v), scale);
    store(out + i, _mm256_fmadd_ps(xhat, w, b), full, mask);
  });
}

void layernorm_backward_row_avx2(float* dx, float* dweight_acc, float* dbias_acc, const float* dout, const float* x,
                                 const float* weight, float mean, float rstd, int64_t C) {
  // Pass 1: sums of g = dout * weight and of g * xhat, plus this row's dweight/dbias. Pass 2: dx.
  const __m256 mean_v = _mm256_set1_ps(mean), scale = _mm256_set1_ps(rstd);
  __m256 sum_g = _mm256_setzero_ps(), sum_g_xhat = _mm256_setzero_ps();
  for_each_vector(C, [&](int64_t i, bool full, __m256i mask) {
    const __m256 dy = load(dout + i, full, mask);
    const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(load(x + i, full, mask), mean_v), scale);
    const __m256 g = weight ? _mm256_mul_ps(dy, load(weight + i, full, mask)) : dy;  // 0 in masked-off lanes
    sum_g = _mm256_add_ps(sum_g, g);
    sum_g_xhat = _mm256_fmadd_ps(g, xhat, sum_g_xhat);
    if (dweight_acc) store(dweight_acc + i, _mm256_fmadd_ps(dy, xhat, load(dweight_acc + i, full, mask)), full, mask);
    if (dbias_acc) store(dbias_acc + i, _mm256_add_ps(dy, load(dbias_acc + i, full, mask)), full, mask);
  });
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) = rstd * g + (-rstd * mean(g)) + (-rstd * mean(g xhat)) * xhat
  const float inv_C = 1.0f / static_cast<float>(C);
  const __m256 c_g = _mm256_set1_ps(-rstd * hsum(sum_g) * inv_C);
  const __m256 c_xhat = _mm256_set1_ps(-rstd * hsum(sum_g_xhat) * inv_C);
  for_each_vector(C, [&](int64_t i, bool full, __m256i mask) {
    const __m256 dy = load(dout + i, full, mask);
    const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(load(x + i, full, mask), mean_v), scale);
    const __m256 g = weight ? _mm256_mul_ps(dy, load(weight + i, full, mask)) : dy;
    store(dx + i, _mm256_fmadd_ps(c_xhat, xhat, _mm256_fmadd_ps(g, scale, c_g)), full, mask);
  });
}

}  // namespace tn
