// AVX-512 micro-kernel and packing of the blocked GEMM (driver in gemm.cc). Twice the FMA width of the AVX2
// kernel: on cores with two 512-bit FMA units (Intel Xeon since Skylake-SP, AMD Zen 5) that doubles the peak;
// on Zen 4, which splits 512-bit operations over 256-bit units, it still halves the instructions.
#include <immintrin.h>

#include "gemm.h"
#include "gemm_pack.h"
#include "vec_avx2.h"
#include "vec_avx512.h"

namespace tn {
namespace {

// acc += A tile (12 rows, row i read from a_i + k * col_step) times the B panel (32 floats per k), in 24 named
// accumulators (an indexed __m512 array would live in memory). kTwo = false computes only the first 16 columns
// (the right edge of C), half the FMAs.
template <bool kTwo>
void accumulate_12x32(int64_t kc, const float* const rows[12], int64_t col_step, const float* b, __m512 acc[12][2]) {
  const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3], *a4 = rows[4], *a5 = rows[5];
  const float *a6 = rows[6], *a7 = rows[7], *a8 = rows[8], *a9 = rows[9], *a10 = rows[10], *a11 = rows[11];
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00;
  for (int64_t p = 0, k = 0; p < kc; ++p, k += col_step) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = kTwo ? _mm512_load_ps(b + 16) : b0;
#define TN_GEMM_ROW(i)                                    \
  {                                                       \
    const __m512 ai = _mm512_set1_ps(a##i[k]);            \
    c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);           \
    if (kTwo) c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1); \
  }
    TN_GEMM_ROW(0);
    TN_GEMM_ROW(1);
    TN_GEMM_ROW(2);
    TN_GEMM_ROW(3);
    TN_GEMM_ROW(4);
    TN_GEMM_ROW(5);
    TN_GEMM_ROW(6);
    TN_GEMM_ROW(7);
    TN_GEMM_ROW(8);
    TN_GEMM_ROW(9);
    TN_GEMM_ROW(10);
    TN_GEMM_ROW(11);
#undef TN_GEMM_ROW
    b += kGemmAvx512NR;
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20, acc[2][1] = c21;
  acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
  acc[6][0] = c60, acc[6][1] = c61, acc[7][0] = c70, acc[7][1] = c71, acc[8][0] = c80, acc[8][1] = c81;
  acc[9][0] = c90, acc[9][1] = c91, acc[10][0] = c100, acc[10][1] = c101, acc[11][0] = c110, acc[11][1] = c111;
}

// The same for a packed A panel (12 values per k, contiguous): one pointer with constant offsets, so all 12 row
// addresses fit in the loop's registers (twelve row pointers do not, and g++ reloads some from the stack every k).
template <bool kTwo>
void accumulate_12x32_packed(int64_t kc, const float* a, const float* b, __m512 acc[12][2]) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, c100 = c00, c101 = c00, c110 = c00, c111 = c00;
  for (int64_t p = 0; p < kc; ++p, a += 12, b += kGemmAvx512NR) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = kTwo ? _mm512_load_ps(b + 16) : b0;
#define TN_GEMM_ROW(i)                                    \
  {                                                       \
    const __m512 ai = _mm512_set1_ps(a[i]);               \
    c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);           \
    if (kTwo) c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1); \
  }
    TN_GEMM_ROW(0);
    TN_GEMM_ROW(1);
    TN_GEMM_ROW(2);
    TN_GEMM_ROW(3);
    TN_GEMM_ROW(4);
    TN_GEMM_ROW(5);
    TN_GEMM_ROW(6);
    TN_GEMM_ROW(7);
    TN_GEMM_ROW(8);
    TN_GEMM_ROW(9);
    TN_GEMM_ROW(10);
    TN_GEMM_ROW(11);
#undef TN_GEMM_ROW
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20, acc[2][1] = c21;
  acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
  acc[6][0] = c60, acc[6][1] = c61, acc[7][0] = c70, acc[7][1] = c71, acc[8][0] = c80, acc[8][1] = c81;
  acc[9][0] = c90, acc[9][1] = c91, acc[10][0] = c100, acc[10][1] = c101, acc[11][0] = c110, acc[11][1] = c111;
}

// Four columns of every 12-row panel at once: 48 floats written as three whole vectors (12 + 4, 8 + 8, 4 + 12
// rows of adjacent columns). One masked 12-float store per column and panel was slower: a block's panels lie a
// multiple of 4 KiB apart, so the twelve partly written lines compete for one L1 set.
void pack_columns_12(const float* src, int64_t col_step, int64_t rows, int64_t c, float* dst, int64_t cols) {
  const __m512i first_and_second = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19);
  const __m512i second_and_third = _mm512_setr_epi32(4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23);
  const __m512i third_and_fourth = _mm512_setr_epi32(8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27);
  const float* s = src + c * col_step;
  for (int64_t r0 = 0; r0 < rows; r0 += 12) {
    // Whole 16-float loads while they stay inside the block; lanes past its last row (or the panel) zero.
    const __mmask16 m = rows - r0 >= 16 ? 0xFFFF : lanes16(rows - r0) & lanes16(12);
    const __m512 c0 = _mm512_maskz_loadu_ps(m, s + r0);
    const __m512 c1 = _mm512_maskz_loadu_ps(m, s + col_step + r0);
    const __m512 c2 = _mm512_maskz_loadu_ps(m, s + 2 * col_step + r0);
    const __m512 c3 = _mm512_maskz_loadu_ps(m, s + 3 * col_step + r0);
    float* d = dst + r0 * cols + c * 12;
    _mm512_storeu_ps(d, _mm512_permutex2var_ps(c0, first_and_second, c1));
    _mm512_storeu_ps(d + 16, _mm512_permutex2var_ps(c1, second_and_third, c2));
    _mm512_storeu_ps(d + 32, _mm512_permutex2var_ps(c2, third_and_fourth, c3));
  }
}

// Eight columns of every 32-row panel at once (1 KiB of the panel written in one run) for the same reason: at
// the usual depths these panels too lie a multiple of 4 KiB apart, and one column to each panel in turn was slower.
void pack_columns_32(const float* src, int64_t col_step, int64_t rows, int64_t c, float* dst, int64_t cols) {
  for (int64_t r0 = 0; r0 < rows; r0 += 32) {
    const __mmask16 first = lanes16(rows - r0), second = lanes16(rows - r0 - 16);  // zeros past the last row
    const float* s = src + c * col_step + r0;
    float* d = dst + r0 * cols + c * 32;
#pragma GCC unroll 8
    for (int g = 0; g < 8; ++g) {
      _mm512_storeu_ps(d + g * 32, _mm512_maskz_loadu_ps(first, s + g * col_step));
      _mm512_storeu_ps(d + g * 32 + 16, _mm512_maskz_loadu_ps(second, s + g * col_step + 16));
    }
  }
}

// Columns contiguous (op(A) of TN, op(B) of NN): column c of the whole block is `rows` floats in a row, cut into
// the panels. Reading it straight through, all panels at once, streams memory; panel by panel, every column of
// a panel would be a short read from a different cache line.
void pack_columns(const float* src, int64_t col_step, int64_t rows, int64_t cols, int64_t width, float* dst) {
  const int64_t panels = (rows + width - 1) / width;
  int64_t c = 0;
  // The block is often read from DRAM or L3 here, its first touch in this product: fetch the columns 8 ahead
  // while these are copied.
  auto prefetch_column = [&](int64_t column) {
    if (column >= cols) return;
    const float* s = src + column * col_step;
    for (int64_t r = 0; r < rows; r += 16) _mm_prefetch(reinterpret_cast<const char*>(s + r), _MM_HINT_T0);
  };
  if (width == 12) {
    for (; c + 4 <= cols; c += 4) {
      for (int64_t ahead = 8; ahead < 12; ++ahead) prefetch_column(c + ahead);
      pack_columns_12(src, col_step, rows, c, dst, cols);
    }
  } else if (width == 32) {
    for (; c + 8 <= cols; c += 8) {
      for (int64_t ahead = 8; ahead < 16; ++ahead) prefetch_column(c + ahead);
      pack_columns_32(src, col_step, rows, c, dst, cols);
    }
  }
  for (; c < cols; ++c) {
    const float* s = src + c * col_step;
    prefetch_column(c + 8);
    for (int64_t q = 0; q < panels; ++q) {
      const int64_t r0 = q * width;
      float* d = dst + q * width * cols + c * width;
      // Lanes past the block's last row are loaded as zeros.
      const __mmask16 m0 = lanes16(rows - r0);
      if (width == 32) {
        _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(m0, s + r0));
        _mm512_storeu_ps(d + 16, _mm512_maskz_loadu_ps(lanes16(rows - r0 - 16), s + r0 + 16));
      } else {
        _mm512_mask_storeu_ps(d, lanes16(width), _mm512_maskz_loadu_ps(m0 & lanes16(width), s + r0));
      }
    }
  }
}

// One panel of h <= width rows, width 12 or 32, rows past h zero, rows contiguous: packs the leading multiple of 8
// columns and returns how many it packed.
int64_t pack_panel_rows(const float* panel, int64_t row_step, int64_t h, int64_t cols, int64_t width, float* dst) {
  // Transposes 8 x 8 blocks, eight rows (four for the last group of an A panel) at a time.
  const int64_t cols8 = cols / 8 * 8;
  for (int64_t r0 = 0; r0 < width; r0 += 8) {
    const int64_t group = width - r0 < 8 ? width - r0 : 8;
    const __mmask8 keep = static_cast<__mmask8>((1u << group) - 1);
    for (int64_t c = 0; c < cols8; c += 8) {
      __m256 v[8];
      // As in pack_columns: fetch each row 64 floats ahead, a cache line per two steps.
      if ((c & 15) == 0 && c + 64 < cols8)
        for (int64_t r = 0; r < 8 && r0 + r < h; ++r)
          _mm_prefetch(reinterpret_cast<const char*>(panel + (r0 + r) * row_step + c + 64), _MM_HINT_T0);
      for (int64_t r = 0; r < 8; ++r)
        v[r] = r0 + r < h ? _mm256_loadu_ps(panel + (r0 + r) * row_step + c) : _mm256_setzero_ps();
      transpose8x8(v);
      for (int64_t k = 0; k < 8; ++k) _mm256_mask_storeu_ps(dst + (c + k) * width + r0, keep, v[k]);
    }
  }
  return cols8;
}

}  // namespace

void gemm_pack_panels_avx512(const float* src, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols,
                             int64_t width, float* dst) {
  pack_panels_with(pack_columns, pack_panel_rows, kGemmAvx512MR, kGemmAvx512NR, src, row_step, col_step, rows, cols,
                   width, dst);
}

void gemm_micro_kernel_avx512(int64_t kc, const float* a, int64_t a_row_step, int64_t a_col_step, const float* b_panel,
                              float* C, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta,
                              const float* bias) {
  // Rows past mr repeat the last real row, so an unpacked A is never read past its end.
  const float* rows[12];
  for (int64_t i = 0; i < 12; ++i) rows[i] = a + (i < mr ? i : mr - 1) * a_row_step;
  // The tile of C is written (and, after the first K slice, read) only once the sums are done; fetched now, its
  // misses overlap the FMAs instead of stalling the stores (a large C lives in L3 or DRAM).
  for (int64_t i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + nr - 1), _MM_HINT_T0);
  }
  __m512 acc[12][2];
  const bool packed = a_row_step == 1 && a_col_step == kGemmAvx512MR;
  if (packed && nr <= 16)
    accumulate_12x32_packed<false>(kc, a, b_panel, acc);
  else if (packed)
    accumulate_12x32_packed<true>(kc, a, b_panel, acc);
  else if (nr <= 16)
    accumulate_12x32<false>(kc, rows, a_col_step, b_panel, acc);
  else
    accumulate_12x32<true>(kc, rows, a_col_step, b_panel, acc);

  // C = alpha * acc + beta * C + bias, masked to the nr columns of the tile (nothing outside C is touched).
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __mmask16 m0 = lanes16(nr), m1 = lanes16(nr - 16);
  const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
  for (int64_t i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    __m512 r0 = _mm512_fmadd_ps(va, acc[i][0], bias0);
    __m512 r1 = _mm512_fmadd_ps(va, acc[i][1], bias1);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
  }
}

}  // namespace tn
