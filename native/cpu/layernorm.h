// LayerNorm over the last axis of N rows of C floats, as PyTorch: biased variance, rstd = 1 / sqrt(var + eps).
#pragma once
#include <cstdint>

namespace tn {

// out = (x - mean) * rstd * weight + bias for each row; saves mean[N] and rstd[N] for the backward.
// weight and bias may be null (identity).
void layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* weight, const float* bias,
                       int64_t N, int64_t C, float eps);
// Overwrites dx [N, C], and dweight/dbias [C] (each may be null) with their sums over all N rows.
// weight may be null (identity).
void layernorm_backward(float* dx, float* dweight, float* dbias, const float* dout, const float* x, const float* weight,
                        const float* mean, const float* rstd, int64_t N, int64_t C);

// AVX2 row kernels (layernorm_avx2.cc), chosen at run time.
void layernorm_forward_row_avx2(float* out, float* mean, float* rstd, const float* x, const float* weight,
                                const float* bias, int64_t C, float eps);
// Writes dx for one row and adds the row's share of dweight/dbias into dweight_acc/dbias_acc (when non-null).
void layernorm_backward_row_avx2(float* dx, float* dweight_acc, float* dbias_acc, const float* dout, const float* x,
                                 const float* weight, float mean, float rstd, int64_t C);

// AVX-512 twins (layernorm_avx512.cc).
void layernorm_forward_row_avx512(float* out, float* mean, float* rstd, const float* x, const float* weight,
                                  const float* bias, int64_t C, float eps);
void layernorm_backward_row_avx512(float* dx, float* dweight_acc, float* dbias_acc, const float* dout, const float* x,
                                   const float* weight, float mean, float rstd, int64_t C);

}  // namespace tn
