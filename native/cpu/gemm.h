// Single-precision matrix multiply, row-major, batched: the kernel behind every linear layer and every
// per-head product of attention.
#pragma once
#include <cstdint>

namespace tn {

// For b in [0, batch): C_b = alpha * op(A_b) * op(B_b) + beta * C_b (+ bias[j] added to every row j-th column).
// X_b starts at X + b * strideX (stride 0 repeats the same matrix). op(A_b) is M x K: A_b is stored M x K, or
// K x M when transA. op(B_b) is K x N: stored K x N, or N x K when transB. C_b is M x N, contiguous rows.
// beta = 0 never reads C. bias (N floats) may be null. Batches whose C regions overlap (strideC < M * N) run
// in order, so strideC = 0 with beta = 1 accumulates sum_b op(A_b) * op(B_b) into C. C must not overlap A or B.
void gemm(const float* A, const float* B, float* C, const float* bias, bool transA, bool transB, int64_t M, int64_t N,
          int64_t K, int64_t batch, int64_t strideA, int64_t strideB, int64_t strideC, float alpha, float beta);

// Writes an mr x nr tile of results: C[i, j] = alpha * acc[i, j] + beta * C[i, j] (+ bias[j]), never reading C
// when beta = 0. acc rows are acc_stride floats apart. Shared by the generic kernels and the AVX2 row kernel.
void gemm_store_tile(const float* acc, int64_t acc_stride, float* C, int64_t ldc, int64_t mr, int64_t nr, float alpha,
                     float beta, const float* bias);

// AVX2+FMA micro-kernel (gemm_avx2.cc): an mr x nr (at most 6 x 16) tile of C. Element (i, k) of the A tile is
// a[i * a_row_step + k * a_col_step]: a packed panel (steps 1 and 6) or op(A) in place; rows past mr are not
// read. b_panel is packed, 16 floats of op(B) per k, zero past nr. Writes C like gemm_store_tile.
constexpr int64_t kGemmAvx2MR = 6;
constexpr int64_t kGemmAvx2NR = 16;
void gemm_micro_kernel_avx2(int64_t kc, const float* a, int64_t a_row_step, int64_t a_col_step, const float* b_panel,
                            float* C, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta, const float* bias);

// Packs a rows x cols block of a matrix (element (r, c) at src[r * row_step + c * col_step]) into panels of
// `width` rows, each stored column by column (width floats per column, zero past the last row): the layout the
// micro-kernels stream. The AVX2 packer has fast paths for widths 6 (A) and 16 (B) and falls back on the generic
// one for the rest.
void gemm_pack_panels_generic(const float* src, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols,
                              int64_t width, float* dst);
void gemm_pack_panels_avx2(const float* src, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols,
                           int64_t width, float* dst);

// AVX-512 micro-kernel (gemm_avx512.cc): an mr x nr (at most 12 x 32) tile, with the same operands and output
// as the AVX2 one; b_panel holds 32 floats of op(B) per k. 24 zmm accumulators, two B vectors and a broadcast
// use 27 of the 32 registers. The packer has fast paths for widths 12 (A) and 32 (B).
constexpr int64_t kGemmAvx512MR = 12;
constexpr int64_t kGemmAvx512NR = 32;
void gemm_micro_kernel_avx512(int64_t kc, const float* a, int64_t a_row_step, int64_t a_col_step, const float* b_panel,
                              float* C, int64_t ldc, int64_t mr, int64_t nr, float alpha, float beta,
                              const float* bias);
void gemm_pack_panels_avx512(const float* src, int64_t row_step, int64_t col_step, int64_t rows, int64_t cols,
                             int64_t width, float* dst);

// M = 1: c[j] = alpha * sum_p a[p] * op(B)(p, j) + beta * c[j] (+ bias[j]) for j in [j_begin, j_end), reading B
// in place (K x N, or N x K when transB).
void gemm_row_avx2(const float* a, const float* B, bool transB, int64_t N, int64_t K, int64_t j_begin, int64_t j_end,
                   float* c, float alpha, float beta, const float* bias);

}  // namespace tn
