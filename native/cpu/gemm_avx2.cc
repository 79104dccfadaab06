// AVX2+FMA micro-kernel and packing of the blocked GEMM (driver in gemm.cc).
#include <immintrin.h>

#include "gemm.h"

namespace tn {
namespace {

// Transposes eight rows of eight floats: afterwards v[k] holds what was column k.
void transpose8x8(__m256 v[8]) {
  // Interleave pairs of rows, then pairs of pairs, within each 128-bit half; then swap the halves across.
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 q0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 q2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 q4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 q6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 q7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  v[0] = _mm256_permute2f128_ps(q0, q4, 0x20);
  v[1] = _mm256_permute2f128_ps(q1, q5, 0x20);
  v[2] = _mm256_permute2f128_ps(q2, q6, 0x20);
  v[3] = _mm256_permute2f128_ps(q3, q7, 0x20);
  v[4] = _mm256_permute2f128_ps(q0, q4, 0x31);
  v[5] = _mm256_permute2f128_ps(q1, q5, 0x31);
  v[6] = _mm256_permute2f128_ps(q2, q6, 0x31);
  v[7] = _mm256_permute2f128_ps(q3, q7, 0x31);
}

// The first six floats of v, without touching the two after them (which belong to the next column).
void store6(float* dst, __m256 v) {
  _mm_storeu_ps(dst, _mm256_castps256_ps128(v));
  _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4), _mm256_extractf128_ps(v, 1));
}

// One full panel (all `width` rows present), width 6 or 16, columns [0, cols8) with cols8 a multiple of 8 when
// the rows are contiguous. Returns how many columns it packed; the caller packs the rest.
int64_t pack_full_panel(const float* panel, int64_t row_step, int64_t col_step, int64_t cols, int64_t width,
                        float* dst) {
  if (col_step == 1) {
    // Rows contiguous: transpose 8 x 8 blocks, groups of up to 8 rows at a time.
    const int64_t cols8 = cols / 8 * 8;
    for (int64_t r0 = 0; r0 < width; r0 += 8) {
      const int64_t h = width - r0 < 8 ? width - r0 : 8;
      for (int64_t c = 0; c < cols8; c += 8) {
        __m256 v[8];
        for (int64_t r = 0; r < 8; ++r)
          v[r] = r < h ? _mm256_loadu_ps(panel + (r0 + r) * row_step + c) : _mm256_setzero_ps();
        transpose8x8(v);
        for (int64_t k = 0; k < 8; ++k) {
          float* d = dst + (c + k) * width + r0;
          if (h == 8)
            _mm256_storeu_ps(d, v[k]);
          else
            store6(d, v[k]);
        }
      }
    }
    return cols8;
  }
  if (row_step == 1) {
    // Columns contiguous: each column of the panel is a straight copy.
    for (int64_t c = 0; c < cols; ++c) {
      const float* s = panel + c * col_step;
      float* d = dst + c * width;
      if (width == 16) {
        _mm256_storeu_ps(d, _mm256_loadu_ps(s));
        _mm256_storeu_ps(d + 8, _mm256_loadu_ps(s + 8));
      } else {
        for (int64_t r = 0; r < 6; ++r) d[r] = s[r];
      }
    }
    return cols;
  }
  return 0;
}

}  // namespace

void gemm_pack_panels_avx2(const float* src, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols,
                           int64_t width, float* dst) {
  const bool fast_width = width == 6 || width == 16;
  for (int64_t pr = 0; pr < rows; pr += width) {
    const float* panel = src + pr * row_step;
    const int64_t h = rows - pr < width ? rows - pr : width;
    const int64_t done = fast_width && h == width ? pack_full_panel(panel, row_step, col_step, cols, width, dst) : 0;
    if (done < cols)
      gemm_pack_panels_generic(panel + done * col_step, row_step, col_step, h, cols - done, width, dst + done * width);
    dst += width * cols;
  }
}

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
