// The AdamW element loop with AVX2 intrinsics: the portable loop stays scalar because std::sqrt may set errno.
#include <immintrin.h>

#include "adamw.h"

namespace tn {

void adamw_range_avx2(float* param, const float* grad, float* m, float* v, int64_t n, const AdamwScalars& s) {
  const __m256 decay = _mm256_set1_ps(s.decay), step_size = _mm256_set1_ps(s.step_size);
  const __m256 bias2_sqrt = _mm256_set1_ps(s.bias2_sqrt), eps = _mm256_set1_ps(s.eps);
  const __m256 one_minus_beta1 = _mm256_set1_ps(s.one_minus_beta1);
  const __m256 beta2 = _mm256_set1_ps(s.beta2), one_minus_beta2 = _mm256_set1_ps(s.one_minus_beta2);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(grad + i);
    const __m256 m0 = _mm256_loadu_ps(m + i);
    const __m256 mi = _mm256_add_ps(m0, _mm256_mul_ps(one_minus_beta1, _mm256_sub_ps(g, m0)));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(beta2, _mm256_loadu_ps(v + i)),
                                    _mm256_mul_ps(_mm256_mul_ps(one_minus_beta2, g), g));
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), bias2_sqrt), eps);
    const __m256 update = _mm256_div_ps(_mm256_mul_ps(step_size, mi), denom);
    _mm256_storeu_ps(param + i, _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(param + i), decay), update));
  }
  for (; i < n; ++i) {
    const float g = grad[i];
    const float mi = m[i] + s.one_minus_beta1 * (g - m[i]);
    const float vi = s.beta2 * v[i] + s.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const float root = _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(vi)));  // not std::sqrt: an inline library function
    param[i] = param[i] * s.decay - s.step_size * mi / (root / s.bias2_sqrt + s.eps);
  }
}

}  // namespace tn
