// AVX2+FMA micro-kernel and packing of the blocked GEMM (driver in gemm.cc).
#include <immintrin.h>

#include "gemm.h"
#include "gemm_pack.h"
#include "vec_avx2.h"

namespace tn {
namespace {

// The first six floats of v, without touching the two after them (which belong to the next column).
void store6(float* dst, __m256 v) {
  _mm_storeu_ps(dst, _mm256_castps256_ps128(v));
  _mm_storel_pi(reinterpret_cast<__m64*>(dst + 4), _mm256_extractf128_ps(v, 1));
}

// acc = sum over k of column k of the A tile (6 values, row i read from rows[i] + k * col_step) times column k of
// b_panel (16 values). A 6 x 16 tile is 12 ymm accumulators; with two B vectors and one broadcast A value that is
// 15 of the 16 ymm registers, and 12 independent FMA chains cover FMA latency (4) x throughput (2 per cycle).
void accumulate_6x16(int64_t kc, const float* const rows[6], int64_t col_step, const float* b, __m256 acc[6][2]) {
  const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3], *a4 = rows[4], *a5 = rows[5];
  // Named accumulators rather than an array: g++ keeps an indexed __m256 array in memory, storing it every k.
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t p = 0, k = 0; p < kc; ++p, k += col_step) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    __m256 ai = _mm256_broadcast_ss(a0 + k);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a1 + k);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a2 + k);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a3 + k);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a4 + k);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a5 + k);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    b += kGemmAvx2NR;
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11, acc[2][0] = c20, acc[2][1] = c21;
  acc[3][0] = c30, acc[3][1] = c31, acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
}

// The same for a tile at most 8 columns wide (the right edge of C): half the FMAs of the full tile.
void accumulate_6x8(int64_t kc, const float* const rows[6], int64_t col_step, const float* b, __m256 acc[6][2]) {
  const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3], *a4 = rows[4], *a5 = rows[5];
  __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  for (int64_t p = 0, k = 0; p < kc; ++p, k += col_step) {
    const __m256 b0 = _mm256_load_ps(b);
    c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + k), b0, c0);
    c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + k), b0, c1);
    c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + k), b0, c2);
    c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + k), b0, c3);
    c4 = _mm256_fmadd_ps(_mm256_broadcast_ss(a4 + k), b0, c4);
    c5 = _mm256_fmadd_ps(_mm256_broadcast_ss(a5 + k), b0, c5);
    b += kGemmAvx2NR;
  }
  const __m256 zero = _mm256_setzero_ps();
  acc[0][0] = c0, acc[1][0] = c1, acc[2][0] = c2, acc[3][0] = c3, acc[4][0] = c4, acc[5][0] = c5;
  for (int i = 0; i < 6; ++i) acc[i][1] = zero;
}

// Mask of the first n lanes (n clamped to [0, 8]) for maskload/maskstore.
__m256i first_lanes(int64_t n) {
  const int count = n < 0 ? 0 : (n > 8 ? 8 : static_cast<int>(n));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Columns contiguous (op(A) of TN, op(B) of NN): column c of the whole block is `rows` floats in a row, cut into
// panels of width 6 or 16. Reading the columns straight through, all panels at once, streams memory; panel by
// panel, every column of a panel would be a short read from a different cache line. Eight columns go to each
// panel in turn, so each panel is written in whole lines: at the usual depths B's panels lie a multiple of 4 KiB
// apart, and one column to every panel in turn kept a few L1 sets thrashing.
void pack_columns(const float* src, int64_t col_step, int64_t rows, int64_t cols, int64_t width, float* dst) {
  constexpr int64_t kGroup = 8;
  const int64_t panels = (rows + width - 1) / width;
  for (int64_t c0 = 0; c0 < cols; c0 += kGroup) {
    const int64_t group = cols - c0 < kGroup ? cols - c0 : kGroup;
    for (int64_t q = 0; q < panels; ++q) {
      const int64_t r0 = q * width;
      // Lanes past the block's last row load as zeros; a full vector is read only where it lies inside the block.
      const bool whole_lo = r0 + 8 <= rows, whole_hi = r0 + 16 <= rows;
      const __m256i lo_lanes = first_lanes(rows - r0), hi_lanes = first_lanes(rows - r0 - 8);
      float* d = dst + q * width * cols + c0 * width;
      for (int64_t g = 0; g < group; ++g, d += width) {
        const float* s = src + (c0 + g) * col_step + r0;
        const __m256 lo = whole_lo ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, lo_lanes);
        if (width == 6) {
          // A whole vector spills two floats into the next column, written after it; the block's last column
          // has none after it in this panel.
          if (c0 + g + 1 < cols)
            _mm256_storeu_ps(d, lo);
          else
            store6(d, lo);
          continue;
        }
        _mm256_storeu_ps(d, lo);
        _mm256_storeu_ps(d + 8, whole_hi ? _mm256_loadu_ps(s + 8) : _mm256_maskload_ps(s + 8, hi_lanes));
      }
    }
  }
}

// One panel of h <= width rows, width 6 or 16, rows past h zero, rows contiguous: packs the leading multiple of 8
// columns and returns how many it packed.
int64_t pack_panel_rows(const float* panel, int64_t row_step, int64_t h, int64_t cols, int64_t width, float* dst) {
  // Transposes 8 x 8 blocks, eight rows (or the six of an A panel) at a time.
  const int64_t cols8 = cols / 8 * 8;
  for (int64_t r0 = 0; r0 < width; r0 += 8) {
    const int64_t group = width - r0 < 8 ? width - r0 : 8;
    for (int64_t c = 0; c < cols8; c += 8) {
      __m256 v[8];
      for (int64_t r = 0; r < 8; ++r)
        v[r] = r0 + r < h ? _mm256_loadu_ps(panel + (r0 + r) * row_step + c) : _mm256_setzero_ps();
      transpose8x8(v);
      for (int64_t k = 0; k < 8; ++k) {
        float* d = dst + (c + k) * width + r0;
        if (group == 8)
          _mm256_storeu_ps(d, v[k]);
        else
          store6(d, v[k]);
      }
    }
  }
  return cols8;
}

// c[0, n) = alpha * acc + beta * c + bias over the first min(n, 8) lanes, never touching the lanes past them
// (nor c at all when beta = 0).
void store_lanes(float* c, __m256 acc, int64_t n, float alpha, float beta, const float* bias) {
  const __m256i m = first_lanes(n);
  __m256 r = _mm256_mul_ps(_mm256_set1_ps(alpha), acc);
  if (bias) r = _mm256_add_ps(r, _mm256_maskload_ps(bias, m));
  if (beta != 0.0f) r = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(c, m), r);
  _mm256_maskstore_ps(c, m, r);
}

}  // namespace

void gemm_row_avx2(const float* a, const float* B, bool transB, int64_t N, int64_t K, int64_t j_begin, int64_t j_end,
                   float* c, float alpha, float beta, const float* bias) {
  const float* no_bias = nullptr;
  if (!transB) {
    // acc += a[p] * (row p of B), four rows of B per pass over a chunk of columns: B streams through in long
    // contiguous runs and the accumulators (one chunk) stay in L1.
    constexpr int64_t kChunk = 512;
    alignas(32) float acc[kChunk];
    for (int64_t j0 = j_begin; j0 < j_end; j0 += kChunk) {
      const int64_t w = j_end - j0 < kChunk ? j_end - j0 : kChunk;
      const int64_t w8 = w / 8 * 8;
      const __m256i tail = first_lanes(w - w8);
      for (int64_t j = 0; j < w; ++j) acc[j] = 0.0f;
      int64_t p = 0;
      for (; p + 4 <= K; p += 4) {
        const __m256 a0 = _mm256_broadcast_ss(a + p), a1 = _mm256_broadcast_ss(a + p + 1);
        const __m256 a2 = _mm256_broadcast_ss(a + p + 2), a3 = _mm256_broadcast_ss(a + p + 3);
        const float* b0 = B + p * N + j0;
        const float* b1 = b0 + N;
        const float* b2 = b1 + N;
        const float* b3 = b2 + N;
        for (int64_t j = 0; j < w8; j += 8) {
          __m256 s = _mm256_load_ps(acc + j);
          s = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b0 + j), s);
          s = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b1 + j), s);
          s = _mm256_fmadd_ps(a2, _mm256_loadu_ps(b2 + j), s);
          s = _mm256_fmadd_ps(a3, _mm256_loadu_ps(b3 + j), s);
          _mm256_store_ps(acc + j, s);
        }
        if (w8 < w) {
          __m256 s = _mm256_load_ps(acc + w8);
          s = _mm256_fmadd_ps(a0, _mm256_maskload_ps(b0 + w8, tail), s);
          s = _mm256_fmadd_ps(a1, _mm256_maskload_ps(b1 + w8, tail), s);
          s = _mm256_fmadd_ps(a2, _mm256_maskload_ps(b2 + w8, tail), s);
          s = _mm256_fmadd_ps(a3, _mm256_maskload_ps(b3 + w8, tail), s);
          _mm256_store_ps(acc + w8, s);
        }
      }
      for (; p < K; ++p) {
        const __m256 ap = _mm256_broadcast_ss(a + p);
        const float* b = B + p * N + j0;
        for (int64_t j = 0; j < w8; j += 8)
          _mm256_store_ps(acc + j, _mm256_fmadd_ps(ap, _mm256_loadu_ps(b + j), _mm256_load_ps(acc + j)));
        if (w8 < w)
          _mm256_store_ps(acc + w8, _mm256_fmadd_ps(ap, _mm256_maskload_ps(b + w8, tail), _mm256_load_ps(acc + w8)));
      }
      for (int64_t j = 0; j < w; j += 8)
        store_lanes(c + j0 + j, _mm256_load_ps(acc + j), w - j, alpha, beta, bias ? bias + j0 + j : no_bias);
    }
    return;
  }
  // c[j] = dot(a, row j of B): four rows of B per pass share each load of a; the last K % 8 are masked.
  // The four rows are 4K contiguous floats, and while they are summed the next group is prefetched, one cache
  // line per 16 floats: decoding reads each weight once per token, mostly from DRAM, and the hardware
  // prefetcher alone left a core at about half the bandwidth it reaches with this.
  constexpr int64_t kPrefetchGroups = 1;
  const __m256i tail = first_lanes(K % 8);
  const int64_t k8 = K / 8 * 8;
  int64_t j = j_begin;
  for (; j + 4 <= j_end; j += 4) {
    const float* b0 = B + j * K;
    const float* b1 = b0 + K;
    const float* b2 = b1 + K;
    const float* b3 = b2 + K;
    const bool prefetch = j + 4 * (kPrefetchGroups + 1) <= j_end;
    const float* ahead = b0 + 4 * kPrefetchGroups * K;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t p = 0; p < k8; p += 8) {
      if (prefetch) {
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 4 * p), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 4 * p + 16), _MM_HINT_T0);
      }
      const __m256 av = _mm256_loadu_ps(a + p);
      s0 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b0 + p), s0);
      s1 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b1 + p), s1);
      s2 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b2 + p), s2);
      s3 = _mm256_fmadd_ps(av, _mm256_loadu_ps(b3 + p), s3);
    }
    if (k8 < K) {
      const __m256 av = _mm256_maskload_ps(a + k8, tail);
      s0 = _mm256_fmadd_ps(av, _mm256_maskload_ps(b0 + k8, tail), s0);
      s1 = _mm256_fmadd_ps(av, _mm256_maskload_ps(b1 + k8, tail), s1);
      s2 = _mm256_fmadd_ps(av, _mm256_maskload_ps(b2 + k8, tail), s2);
      s3 = _mm256_fmadd_ps(av, _mm256_maskload_ps(b3 + k8, tail), s3);
    }
    const float dots[4] = {hsum(s0), hsum(s1), hsum(s2), hsum(s3)};
    gemm_store_tile(dots, 0, c + j, 0, 1, 4, alpha, beta, bias ? bias + j : no_bias);
  }
  for (; j < j_end; ++j) {
    const float* b = B + j * K;
    __m256 s = _mm256_setzero_ps();
    for (int64_t p = 0; p < k8; p += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + p), _mm256_loadu_ps(b + p), s);
    if (k8 < K) s = _mm256_fmadd_ps(_mm256_maskload_ps(a + k8, tail), _mm256_maskload_ps(b + k8, tail), s);
    const float dot = hsum(s);
    gemm_store_tile(&dot, 0, c + j, 0, 1, 1, alpha, beta, bias ? bias + j : no_bias);
  }
}

void gemm_pack_panels_avx2(const float* src, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols,
                           int64_t width, float* dst) {
  pack_panels_with(pack_columns, pack_panel_rows, kGemmAvx2MR, kGemmAvx2NR, src, row_step, col_step, rows, cols, width,
                   dst);
}

void gemm_micro_kernel_avx2(int64_t kc, const float* a, int64_t a_row_step, int64_t a_col_step, const float* b_panel,
                            float* C, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta, const float* bias) {
  // Rows past mr repeat the last real row, so an unpacked A is never read past its end.
  const float* rows[6];
  for (int64_t i = 0; i < 6; ++i) rows[i] = a + (i < mr ? i : mr - 1) * a_row_step;
  // C's tile is fetched while the sums run, not when they are stored (see the AVX-512 kernel), into L2 only:
  // its rows are often a multiple of 4 KiB apart, so in L1 they share a set with the B panel's lines and either
  // evict those or are evicted before the stores (measured ~1% faster at 512^3-1024^3 than into L1).
  for (int64_t i = 0; i < mr; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc), _MM_HINT_T1);
    _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc + nr - 1), _MM_HINT_T1);
  }
  __m256 acc[6][2];
  if (nr <= 8)
    accumulate_6x8(kc, rows, a_col_step, b_panel, acc);
  else
    accumulate_6x16(kc, rows, a_col_step, b_panel, acc);

  // C = alpha * acc + beta * C + bias. Edge tiles use masked loads and stores, which never touch the lanes
  // past nr (so nothing outside C is read or written).
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const bool full = nr == kGemmAvx2NR;
  const __m256i m0 = first_lanes(nr), m1 = first_lanes(nr - 8);
  __m256 bias0 = _mm256_setzero_ps(), bias1 = bias0;
  if (bias) {
    bias0 = full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, m0);
    bias1 = full ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, m1);
  }
  for (int64_t i = 0; i < mr; ++i) {
    float* c = C + i * ldc;
    __m256 r0 = _mm256_fmadd_ps(va, acc[i][0], bias0);
    __m256 r1 = _mm256_fmadd_ps(va, acc[i][1], bias1);
    if (full) {
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), r1);
      }
      _mm256_storeu_ps(c, r0);
      _mm256_storeu_ps(c + 8, r1);
    } else {
      if (beta != 0.0f) {
        r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c, m0), r0);
        r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8, m1), r1);
      }
      _mm256_maskstore_ps(c, m0, r0);
      _mm256_maskstore_ps(c + 8, m1, r1);
    }
  }
}

}  // namespace tn
