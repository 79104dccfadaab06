// AVX2/FMA twins of the attention tile kernels: register-tiled 6-row x 16-column products and a vector exp.
// The micro-tiles hold their accumulators in arrays indexed by constant-trip loops; `#pragma GCC unroll` makes
// GCC unroll those loops early enough to keep the arrays in registers (otherwise it spills them to the stack
// on every k step, and the products run several times slower).
#include <immintrin.h>

#include <cmath>

#include "attention.h"
#include "row_groups.h"
#include "vec_avx2.h"

#if defined(_MSC_VER)
#define TN_NOINLINE __declspec(noinline)
#else
#define TN_NOINLINE __attribute__((noinline))
#endif

namespace tn {
namespace {

// Lanes [0, n) set, for n in [0, 8].
__m256i first_lanes(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// exp(x): x = n ln2 + r with |r| <= ln2/2, exp(r) by its degree-6 Taylor polynomial (error ~1e-7), 2^n built
// in the exponent bits. Below -87.3 the result is exactly 0, so -inf (masked) scores give 0; NaN stays NaN.
__m256 exp256(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f), hi = _mm256_set1_ps(88.0f);
  const __m256 not_underflow = _mm256_cmp_ps(x, lo, _CMP_NLT_UQ);
  x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));  // operand order keeps NaN
  const __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2 split in two for an exact n*ln2_hi
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 poly = _mm256_set1_ps(1.0f / 720);
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f / 120));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f / 24));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f / 6));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(0.5f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f));
  poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f));
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_and_ps(_mm256_mul_ps(poly, _mm256_castsi256_ps(exponent)), not_underflow);
}

// Transposes the 8 x 8 block held in rows r[0..7].
void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// C[MR rows][8*NV cols] = alpha * A_rows . Bt_cols over K, with Bt the packed (k-major, ldbt wide) B^T; the last
// vector of each row is stored partially when the tile ends past column N. Not inlined: in the caller's loop over
// column tiles the 12 accumulators shared the 16 ymm registers with the tail store's constants, and GCC kept one
// accumulator on the stack, which made attention fwd+bwd 1.3x slower.
template <int MR, int NV>
TN_NOINLINE void scores_tile(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt,
                             int64_t n, int64_t N, int64_t K, float alpha) {
  __m256 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m256 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = _mm256_loadu_ps(Bt + k * ldbt + n + 8 * v);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(A + r * lda + k);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  const __m256 scale = _mm256_set1_ps(alpha);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const int64_t col = n + 8 * v;
      float* c = C + r * ldc + col;
      const __m256 x = _mm256_mul_ps(acc[r][v], scale);
      if (col + 8 <= N)
        _mm256_storeu_ps(c, x);
      else
        _mm256_maskstore_ps(c, first_lanes(N - col), x);
    }
}

template <int MR>
void scores_rows(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t NP,
                 int64_t N, int64_t K, float alpha) {
  int64_t n = 0;
  for (; n + 16 <= NP; n += 16) scores_tile<MR, 2>(C, ldc, A, lda, Bt, ldbt, n, N, K, alpha);
  if (n < NP) scores_tile<MR, 1>(C, ldc, A, lda, Bt, ldbt, n, N, K, alpha);
}

// C[MR rows][8*NV cols] (+)= A . B over K; with Tail the last vector covers only the lanes in `tail`.
template <int MR, int NV, bool Tail>
void acc_tile(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B, int64_t ldb,
              int64_t K, __m256i tail, bool accumulate) {
  auto load = [&](const float* src, int v) {
    return (Tail && v == NV - 1) ? _mm256_maskload_ps(src, tail) : _mm256_loadu_ps(src);
  };
  __m256 acc[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = accumulate ? load(C + r * ldc + 8 * v, v) : _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m256 b[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b[v] = load(B + k * ldb + 8 * v, v);
    const float* a = A + k * a_col;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r * a_row);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ar, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* c = C + r * ldc + 8 * v;
      if (Tail && v == NV - 1)
        _mm256_maskstore_ps(c, tail, acc[r][v]);
      else
        _mm256_storeu_ps(c, acc[r][v]);
    }
}

template <int MR>
void acc_rows(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B, int64_t ldb,
              int64_t N, int64_t K, bool accumulate) {
  int64_t n = 0;
  for (; n + 16 <= N; n += 16)
    acc_tile<MR, 2, false>(C + n, ldc, A, a_row, a_col, B + n, ldb, K, __m256i{}, accumulate);
  if (n + 8 <= N) {
    acc_tile<MR, 1, false>(C + n, ldc, A, a_row, a_col, B + n, ldb, K, __m256i{}, accumulate);
    n += 8;
  }
  if (n < N) acc_tile<MR, 1, true>(C + n, ldc, A, a_row, a_col, B + n, ldb, K, first_lanes(N - n), accumulate);
}

}  // namespace

void attn_pack_transposed_avx2(float* Bt, const float* B, int64_t ldb, int64_t N, int64_t K) {
  const int64_t NP = (N + 7) / 8 * 8, N8 = N / 8 * 8, K8 = K / 8 * 8;
  for (int64_t n0 = 0; n0 < N8; n0 += 8)
    for (int64_t k0 = 0; k0 < K8; k0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(B + (n0 + i) * ldb + k0);
      transpose8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(Bt + (k0 + i) * NP + n0, r[i]);
    }
  // Ragged edges: the last K % 8 columns of the whole 8-row blocks, then the last N % 8 rows and the padding.
  for (int64_t k = K8; k < K; ++k)
    for (int64_t n = 0; n < N8; ++n) Bt[k * NP + n] = B[n * ldb + k];
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t n = N8; n < N; ++n) Bt[k * NP + n] = B[n * ldb + k];
    for (int64_t n = N; n < NP; ++n) Bt[k * NP + n] = 0.0f;
  }
}

void attn_scores_avx2(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t M,
                      int64_t N, int64_t K, float alpha) {
  // Columns are computed in whole vectors up to NP (the packing zero-pads them) and stored up to N.
  const int64_t NP = (N + 7) / 8 * 8;
  for_each_row_group<6>(M, [&](auto rows, int64_t m) {
    scores_rows<decltype(rows)::value>(C + m * ldc, ldc, A + m * lda, lda, Bt, ldbt, NP, N, K, alpha);
  });
}

void attn_matmul_avx2(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B, int64_t ldb,
                      int64_t M, int64_t N, int64_t K, bool accumulate) {
  for_each_row_group<6>(M, [&](auto rows, int64_t m) {
    acc_rows<decltype(rows)::value>(C + m * ldc, ldc, A + m * a_row, a_row, a_col, B, ldb, N, K, accumulate);
  });
}

float attn_row_max_avx2(const float* x, int64_t n) {
  const float neg_inf = -INFINITY;
  __m256 m = _mm256_set1_ps(neg_inf);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float best = neg_inf;
  for (float l : lanes) best = l > best ? l : best;
  for (; j < n; ++j) best = x[j] > best ? x[j] : best;
  return best;
}

float attn_exp_sum_avx2(float* x, int64_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + j), s));
    _mm256_storeu_ps(x + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (j < n) {
    const __m256i lanes = first_lanes(n - j);
    const __m256 e =
        _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(x + j, lanes), s)), _mm256_castsi256_ps(lanes));
    _mm256_maskstore_ps(x + j, lanes, e);
    sum = _mm256_add_ps(sum, e);
  }
  return horizontal_sum(sum);
}

void attn_row_dots_avx2(float* out, const float* a, const float* b, int64_t lda, int64_t rows, int64_t n) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = a + i * lda;
    const float* y = b + i * lda;
    __m256 sum = _mm256_setzero_ps();
    for_each_vector(n, [&](int64_t d, bool full, __m256i mask) {
      sum = _mm256_fmadd_ps(load(x + d, full, mask), load(y + d, full, mask), sum);
    });
    out[i] = hsum(sum);
  }
}

void attn_scale_rows_avx2(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t n,
                          float scale) {
  const __m256 s = _mm256_set1_ps(scale);
  for (int64_t i = 0; i < rows; ++i) {
    const float* x = src + i * ld_src;
    float* y = dst + i * ld_dst;
    for_each_vector(n, [&](int64_t d, bool full, __m256i mask) {
      store(y + d, _mm256_mul_ps(load(x + d, full, mask), s), full, mask);
    });
  }
}

}  // namespace tn
