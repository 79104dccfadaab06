// AVX-512 twins of the LayerNorm row kernels: the same passes and the same shifted sums as layernorm_avx2.cc,
// 16 lanes wide with masked tails. At the model widths the rows are bound by instructions, not memory (the same
// time per row for 64 rows in L1 as for 1536 from L3), so the wider vectors pay. No inline library templates
// here (see layernorm_avx2.cc).
#include <immintrin.h>
#include <math.h>

#include "layernorm.h"
#include "vec_avx512.h"

namespace tn {
namespace {

// Calls body(i, lanes) for each 16-float step of [0, n); lanes masks the partial last step (masked-off lanes
// load as 0).
template <typename Body>
inline void for_each_vector16(int64_t n, const Body& body) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) body(i, static_cast<__mmask16>(0xFFFF));
  if (i < n) body(i, lanes16(n - i));
}

}  // namespace

void layernorm_forward_row_avx512(float* out, float* mean_out, float* rstd_out, const float* x, const float* weight,
                                  const float* bias, int64_t C, float eps) {
  // Sums of x - x[0], as the other paths, in two accumulator pairs to hide the add latency.
  const __m512 shift = _mm512_set1_ps(x[0]);
  __m512 sum0 = _mm512_setzero_ps(), sum1 = _mm512_setzero_ps();
  __m512 sq0 = _mm512_setzero_ps(), sq1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= C; i += 32) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), shift);
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), shift);
    sum0 = _mm512_add_ps(sum0, d0);
    sum1 = _mm512_add_ps(sum1, d1);
    sq0 = _mm512_fmadd_ps(d0, d0, sq0);
    sq1 = _mm512_fmadd_ps(d1, d1, sq1);
  }
  for (; i < C; i += 16) {
    const __mmask16 lanes = lanes16(C - i);
    const __m512 d = _mm512_maskz_sub_ps(lanes, _mm512_maskz_loadu_ps(lanes, x + i), shift);
    sum0 = _mm512_add_ps(sum0, d);
    sq0 = _mm512_fmadd_ps(d, d, sq0);
  }
  const float mean_d = _mm512_reduce_add_ps(_mm512_add_ps(sum0, sum1)) / static_cast<float>(C);
  const float var = _mm512_reduce_add_ps(_mm512_add_ps(sq0, sq1)) / static_cast<float>(C) - mean_d * mean_d;
  const float mean = x[0] + mean_d;
  const float rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + eps);
  *mean_out = mean;
  *rstd_out = rstd;

  // (x - mean) * rstd rather than x * rstd - mean * rstd: the latter cancels when |mean| >> std.
  const __m512 mean_v = _mm512_set1_ps(mean), scale = _mm512_set1_ps(rstd);
  const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
  for_each_vector16(C, [&](int64_t i, __mmask16 lanes) {
    const __m512 w = weight ? _mm512_maskz_loadu_ps(lanes, weight + i) : one;
    const __m512 b = bias ? _mm512_maskz_loadu_ps(lanes, bias + i) : zero;
    const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, x + i), mean_v), scale);
    _mm512_mask_storeu_ps(out + i, lanes, _mm512_fmadd_ps(xhat, w, b));
  });
}

void layernorm_backward_row_avx512(float* dx, float* dweight_acc, float* dbias_acc, const float* dout, const float* x,
                                   const float* weight, float mean, float rstd, int64_t C) {
  // Pass 1: sums of g = dout * weight and of g * xhat, plus this row's dweight/dbias. Pass 2: dx.
  const __m512 mean_v = _mm512_set1_ps(mean), scale = _mm512_set1_ps(rstd);
  __m512 sum_g = _mm512_setzero_ps(), sum_g_xhat = _mm512_setzero_ps();
  for_each_vector16(C, [&](int64_t i, __mmask16 lanes) {
    const __m512 dy = _mm512_maskz_loadu_ps(lanes, dout + i);
    const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, x + i), mean_v), scale);
    const __m512 g = weight ? _mm512_mul_ps(dy, _mm512_maskz_loadu_ps(lanes, weight + i)) : dy;  // 0 off the lanes
    sum_g = _mm512_add_ps(sum_g, g);
    sum_g_xhat = _mm512_fmadd_ps(g, xhat, sum_g_xhat);
    if (dweight_acc)
      _mm512_mask_storeu_ps(dweight_acc + i, lanes,
                            _mm512_fmadd_ps(dy, xhat, _mm512_maskz_loadu_ps(lanes, dweight_acc + i)));
    if (dbias_acc)
      _mm512_mask_storeu_ps(dbias_acc + i, lanes, _mm512_add_ps(dy, _mm512_maskz_loadu_ps(lanes, dbias_acc + i)));
  });
  // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) = rstd * g + (-rstd * mean(g)) + (-rstd * mean(g xhat)) * xhat
  const float inv_C = 1.0f / static_cast<float>(C);
  const __m512 c_g = _mm512_set1_ps(-rstd * _mm512_reduce_add_ps(sum_g) * inv_C);
  const __m512 c_xhat = _mm512_set1_ps(-rstd * _mm512_reduce_add_ps(sum_g_xhat) * inv_C);
  for_each_vector16(C, [&](int64_t i, __mmask16 lanes) {
    const __m512 dy = _mm512_maskz_loadu_ps(lanes, dout + i);
    const __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, x + i), mean_v), scale);
    const __m512 g = weight ? _mm512_mul_ps(dy, _mm512_maskz_loadu_ps(lanes, weight + i)) : dy;
    _mm512_mask_storeu_ps(dx + i, lanes, _mm512_fmadd_ps(c_xhat, xhat, _mm512_fmadd_ps(g, scale, c_g)));
  });
}

}  // namespace tn
