// Fused scaled-dot-product attention, flash style: the forward walks key blocks with an online softmax and
// keeps only a query-block x key-block tile of scores per thread; the backward recomputes the probabilities
// from the saved log-sum-exp (flash-attention-2), or reads them when the caller kept the forward's weights
// (`probs` of attention_backward). Tensors are [B, H, T, D] views with d contiguous.
#pragma once
#include <cstdint>

namespace tn {

// Element (b, h, t, d) of a view lives at base[b*b_stride + h*h_stride + t*t_stride + d], where base points at
// element (0, 0, 0, 0). Written views (out, dq, dk, dv) must not overlap each other or the inputs.
struct AttnStrides {
  int64_t b, h, t;
};

// Everything besides Q, K, V that decides which scores exist and how they are scaled.
struct AttnOptions {
  float scale;
  bool causal;  // query i sees keys j <= i + causal_offset
  int64_t causal_offset;
  const int32_t* key_padding;  // [B, Tk], nonzero = key ignored; or null
  const float* mask;           // additive, element (b, h, i, j) at mask[b*ms.b + h*ms.h + i*ms.t + j]; or null
  AttnStrides mask_strides;
  float dropout_p;  // probability of dropping an attention probability, in [0, 1)
  uint64_t seed;    // Philox key; element (b, h, i, j) draws number ((b*H + h)*Tq + i)*Tk + j
};

// out = softmax(scale*Q K^T + masks) V (with dropout on the probabilities). lse: B*H*Tq contiguous log-sum-exp
// of each row (+inf for a row whose keys are all masked; its output is 0). weights: null or B*H*Tq*Tk
// probabilities before dropout. Both passes throw std::bad_alloc when their scratch cannot be allocated.
void attention_forward(float* out, float* lse, float* weights, const float* q, const float* k, const float* v,
                       int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, AttnStrides q_strides,
                       AttnStrides k_strides, AttnStrides v_strides, AttnStrides out_strides, const AttnOptions& opt);

// Overwrites dq, dk, dv (laid out like q, k, v) from dout (laid out like out) and the forward's out and lse.
// probs: null, or the forward's weights (probabilities before dropout, B*H*Tq*Tk contiguous), used instead of
// recomputing them from Q, K and lse (the CUDA kernels always recompute).
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const float* probs, int64_t B, int64_t H,
                        int64_t Tq, int64_t Tk, int64_t D, AttnStrides q_strides, AttnStrides k_strides,
                        AttnStrides v_strides, AttnStrides out_strides, const AttnOptions& opt);

// Tile kernels the two passes are built from, one copy per instruction set.
// pack_transposed: Bt[k*round_up(N, 8) + n] = B[n*ldb + k] for an N x K block B, zero-padded to whole 8-float
//   vectors, so the score kernels read contiguous columns.
// scores: C[m][n] = alpha * dot(A row m, B row n) over K, for M x N; rows of A are lda apart, B comes packed
//   with row stride ldbt (a multiple of 8, at least N).
// matmul: C[m][n] = sum_k A[m*a_row + k*a_col] * B[k*ldb + n], for M x N over K, added to C when accumulate
//   (otherwise C is not read).
// row_max: max of x[0..n) (-inf when n == 0). exp_sum: x[j] = exp(x[j] - shift), returns the sum.
void attn_pack_transposed_generic(float* Bt, const float* B, int64_t ldb, int64_t N, int64_t K);
void attn_scores_generic(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t M,
                         int64_t N, int64_t K, float alpha);
void attn_matmul_generic(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B,
                         int64_t ldb, int64_t M, int64_t N, int64_t K, bool accumulate);
float attn_row_max_generic(const float* x, int64_t n);
float attn_exp_sum_generic(float* x, int64_t n, float shift);
// out[i] = a_i . b_i over n floats, rows i < rows of a and b lda floats apart.
void attn_row_dots_generic(float* out, const float* a, const float* b, int64_t lda, int64_t rows, int64_t n);
// dst row i = scale * src row i, n floats each, for i < rows.
void attn_scale_rows_generic(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t n,
                             float scale);

void attn_pack_transposed_avx2(float* Bt, const float* B, int64_t ldb, int64_t N, int64_t K);
void attn_scores_avx2(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t M,
                      int64_t N, int64_t K, float alpha);
void attn_matmul_avx2(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B, int64_t ldb,
                      int64_t M, int64_t N, int64_t K, bool accumulate);
float attn_row_max_avx2(const float* x, int64_t n);
float attn_exp_sum_avx2(float* x, int64_t n, float shift);
void attn_row_dots_avx2(float* out, const float* a, const float* b, int64_t lda, int64_t rows, int64_t n);
void attn_scale_rows_avx2(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t n,
                          float scale);

void attn_scores_avx512(float* C, int64_t ldc, const float* A, int64_t lda, const float* Bt, int64_t ldbt, int64_t M,
                        int64_t N, int64_t K, float alpha);
void attn_matmul_avx512(float* C, int64_t ldc, const float* A, int64_t a_row, int64_t a_col, const float* B,
                        int64_t ldb, int64_t M, int64_t N, int64_t K, bool accumulate);
float attn_row_max_avx512(const float* x, int64_t n);
float attn_exp_sum_avx512(float* x, int64_t n, float shift);
void attn_row_dots_avx512(float* out, const float* a, const float* b, int64_t lda, int64_t rows, int64_t n);
void attn_scale_rows_avx512(float* dst, int64_t ld_dst, const float* src, int64_t ld_src, int64_t rows, int64_t n,
                            float scale);

}  // namespace tn
