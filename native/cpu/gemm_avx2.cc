// AVX2+FMA micro-kernel of the blocked GEMM (driver and packing in gemm.cc).
#include <immintrin.h>

#include "gemm.h"

namespace tn {

// 6 x 16 tile = 12 ymm accumulators; with two B vectors and one broadcast A value that is 15 of the 16 ymm
// registers, and 12 independent FMA chains cover FMA latency (4) x throughput (2 per cycle).
void gemm_micro_kernel_avx2(int64_t kc, const float* a_panel, const float* b_panel, float* C, int64_t ldc,
                            int64_t mr, int64_t nr, float alpha, float beta, const float* bias) {
  constexpr int MR = static_cast<int>(kGemmAvx2MR);
  // Named accumulators rather than an array: g++ keeps an indexed __m256 array in memory, storing it every k.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float* a = a_panel;
  const float* b = b_panel;
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    __m256 ai = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += MR;
    b += kGemmAvx2NR;
  }

  alignas(32) float tile[MR][kGemmAvx2NR];
  const __m256 rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == kGemmAvx2NR) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    const __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    for (int i = 0; i < MR; ++i) {
      float* c = C + i * ldc;
      __m256 r0 = _mm256_fmadd_ps(va, rows[i][0], bias0);
      __m256 r1 = _mm256_fmadd_ps(va, rows[i][1], bias1);
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    }
    return;
  }
  for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(&tile[i][0], rows[i][0]);
    _mm256_store_ps(&tile[i][8], rows[i][1]);
  }
  gemm_store_tile(&tile[0][0], kGemmAvx2NR, C, ldc, mr, nr, alpha, beta, bias);
}

}  // namespace tn
