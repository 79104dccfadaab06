// AVX-512 twins of the attention tile kernels: the two products (scores and matmul) in 8-row x 32-column
// register tiles (matmul in 6 x 64 ones when there are 64 columns), the row max and the exp; packing stays on its
// AVX2 version. Accumulator arrays are indexed by constant-trip loops that `#pragma GCC unroll` flattens early, so
// they live in registers (see attention_avx2.cc).
#include <immintrin.h>

#include "attention.h"
#include "row_groups.h"
#include "vec_avx512.h"

namespace tn {
namespace {

// exp(x) as exp256 in attention_avx2.cc, 16 lanes: x = n ln2 + r, exp(r) by its degree-6 Taylor polynomial,
// 2^n built with scalef. Below -87.3 the result is exactly 0, so -inf (masked) scores give 0; NaN stays NaN.
__m512 exp512(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3f), hi = _mm512_set1_ps(88.0f);
  const __mmask16 not_underflow = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);
  x = _mm512_min_ps(hi, _mm512_max_ps(lo, x));  // operand order keeps NaN
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln2 split in two for an exact n*ln2_hi
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 poly = _mm512_set1_ps(1.0f / 720);
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.0f / 120));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.0f / 24));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.0f / 6));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(0.5f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.0f));
  poly = _mm512_fmadd_ps(poly, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(not_underflow, _mm512_scalef_ps(poly, n));
}

// C[MR rows][16*NV cols from n] = alpha * A_rows . Bt_cols over K. Bt is the packed B^T (k-major, ldbt wide)
// holding NP columns; columns are stored up to N.
template <int MR, int NV>
void scores_tile(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t n,
                 int64_t NP, int64_t N, int64_t K, float alpha) {
  __mmask16 load_mask[NV], store_mask[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    load_mask[v] = lanes16(NP - n - 16 * v);
    store_mask[v] = lanes16(N - n - 16 * v);
  }
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm512_maskz_loadu_ps(load_mask[v], Bt + k * ldbt + n + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + k]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  const __m512 scale = _mm512_set1_ps(alpha);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm512_mask_storeu_ps(C + r * ldc + n + 16 * v, store_mask[v], _mm512_mul_ps(acc[r][v], scale));
}

template <int MR>
void scores_rows(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t NP,
                 int64_t N, int64_t K, float alpha) {
  int64_t n = 0;
  for (; NP - n > 16; n += 32) scores_tile<MR, 2>(C, ldc, A, lda, Bt, ldbt, n, NP, N, K, alpha);
  if (n < NP) scores_tile<MR, 1>(C, ldc, A, lda, Bt, ldbt, n, NP, N, K, alpha);
}

// C[MR rows][16*NV cols] (+)= A . B over K, for the columns of this tile below N (counted from the tile's start).
template <int MR, int NV>
void acc_tile(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B, int64_t ldb,
              int64_t N, int64_t K, bool accumulate) {
  __mmask16 mask[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) mask[v] = lanes16(N - 16 * v);
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      acc[r][v] = accumulate ? _mm512_maskz_loadu_ps(mask[v], C + r * ldc + 16 * v) : _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm512_maskz_loadu_ps(mask[v], B + k * ldb + 16 * v);
    const float* a = A + k * a_col;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * a_row]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(C + r * ldc + 16 * v, mask[v], acc[r][v]);
}

// Columns from n0 on, in tiles of 32 and 16.
template <int MR>
void acc_rows(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B, int64_t ldb,
              int64_t N, int64_t K, bool accumulate, int64_t n0 = 0) {
  for (int64_t n = n0; n < N; n += 32) {
    if (N - n > 16)
      acc_tile<MR, 2>(C + n, ldc, A, a_row, a_col, B + n, ldb, N - n, K, accumulate);
    else
      acc_tile<MR, 1>(C + n, ldc, A, a_row, a_col, B + n, ldb, N - n, K, accumulate);
  }
}

}  // namespace

void attn_scores_avx512(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t M,
                        int64_t N, int64_t K, float alpha) {
  const int64_t NP = (N + 7) / 8 * 8;  // columns the packing holds (zero past N)
  for_each_row_group<8>(M, [&](auto rows, int64_t m) {
    scores_rows<decltype(rows)::value>(C + m * ldc, ldc, A + m * lda, lda, Bt, ldbt, NP, N, K, alpha);
  });
}

// 6 rows x 64 columns per tile while 64 columns remain, the rest of the columns as acc_rows.
template <int MR>
void acc_rows_wide(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B, int64_t ldb,
                   int64_t N, int64_t K, bool accumulate) {
  int64_t n = 0;
  for (; N - n >= 64; n += 64) acc_tile<MR, 4>(C + n, ldc, A, a_row, a_col, B + n, ldb, 64, K, accumulate);
  if (n < N) acc_rows<MR>(C, ldc, A, a_row, a_col, B, ldb, N, K, accumulate, n);
}

void attn_matmul_avx512(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B,
                        int64_t ldb, int64_t M, int64_t N, int64_t K, bool accumulate) {
  // Head dimension 64 and up: a 6 x 64 tile does 24 FMAs per 4 loads of B and 6 broadcasts of A, where an
  // 8 x 32 one does 16 per 2 + 8.
  if (N >= 64) {
    for_each_row_group<6>(M, [&](auto rows, int64_t m) {
      acc_rows_wide<decltype(rows)::value>(C + m * ldc, ldc, A + m * a_row, a_row, a_col, B, ldb, N, K, accumulate);
    });
    return;
  }
  for_each_row_group<8>(M, [&](auto rows, int64_t m) {
    acc_rows<decltype(rows)::value>(C + m * ldc, ldc, A + m * a_row, a_row, a_col, B, ldb, N, K, accumulate);
  });
}

float attn_row_max_avx512(const float* x, int64_t n) {
  __m512 m = _mm512_set1_ps(-__builtin_inff());
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 lanes = lanes16(n - j);
    m = _mm512_mask_max_ps(m, lanes, m, _mm512_maskz_loadu_ps(lanes, x + j));
  }
  return _mm512_reduce_max_ps(m);
}

float attn_exp_sum_avx512(float* x, int64_t n, float shift) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 lanes = lanes16(n - j);
    const __m512 e = _mm512_maskz_mov_ps(lanes, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, x + j), s)));
    _mm512_mask_storeu_ps(x + j, lanes, e);
    sum = _mm512_add_ps(sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

void attn_row_dots_avx512(float* out, const float* a, const float* b, int64_t lda, int64_t rows, int64_t n) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = a + i * lda;
    const float* y = b + i * lda;
    __m512 sum = _mm512_setzero_ps();
    for (int64_t d = 0; d < n; d += 16) {
      const __mmask16 lanes = lanes16(n - d);
      sum = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(lanes, x + d), _mm512_maskz_loadu_ps(lanes, y + d), sum);
    }
    out[i] = _mm512_reduce_add_ps(sum);
  }
}

void attn_scale_rows_avx512(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t n,
                            float scale) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = src + i * ld_src;
    float* y = dst + i * ld_dst;
    for (int64_t d = 0; d < n; d += 16) {
      const __mmask16 lanes = lanes16(n - d);
      _mm512_mask_storeu_ps(y + d, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, x + d), s));
    }
  }
}

}  // namespace tn
