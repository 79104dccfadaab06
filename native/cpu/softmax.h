// Softmax and log-softmax along the middle axis of a contiguous [outer, dim, inner] tensor, numerically stable
// (the row maximum is subtracted before exponentiating).
#pragma once
#include <cstdint>

namespace tn {

void softmax_forward(float* out, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log);
// dx from the forward's output y: softmax dx = y * (dy - sum(dy * y)), log-softmax dx = dy - exp(y) * sum(dy).
void softmax_backward(float* dx, const float* y, const float* dy, int64_t outer, int64_t dim, int64_t inner, bool log);

// Primitives over n >= 1 contiguous floats, on the active ISA; cross-entropy is built from them too.
float row_max(const float* x, int64_t n);
float row_sum(const float* x, int64_t n);
float row_sum_exp(const float* x, int64_t n, float shift);  // sum(exp(x - shift))
void row_exp_affine(float* out, const float* x, int64_t n, float shift, float scale,
                    float add);  // out = scale * exp(x - shift) + add

// AVX2 versions (softmax_avx2.cc), chosen at run time. The cols_ ones work element-wise across n columns, for
// inner > 1, where every column has its own shift or scale.
float row_max_avx2(const float* x, int64_t n);
float row_sum_avx2(const float* x, int64_t n);
float row_dot_avx2(const float* a, const float* b, int64_t n);
float row_sum_exp_avx2(const float* x, int64_t n, float shift);              // sum(exp(x - shift))
float row_exp_sum_avx2(float* out, const float* x, int64_t n, float shift);  // out = exp(x - shift); sum(out)
void row_exp_affine_avx2(float* out, const float* x, int64_t n, float shift, float scale,
                         float add);  // out = scale * exp(x - shift) + add
void row_sub_scaled_exp_avx2(float* out, const float* a, const float* y, int64_t n, float s);  // a - s * exp(y)
void cols_exp_sum_avx2(float* out, float* sum, const float* x, const float* shift,
                       int64_t n);  // out = exp(x - shift), sum += out
void cols_sub_scaled_exp_avx2(float* out, const float* a, const float* y, const float* s,
                              int64_t n);  // a - s * exp(y)

}  // namespace tn
