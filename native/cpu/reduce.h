// Reductions over the middle axis of a contiguous [outer, dim, inner] tensor, the scatter that is the backward
// of max/min, and the sum that undoes a broadcast.
#pragma once
#include <cstdint>

namespace tn {

enum class ReduceOp { sum, mean, max, min, argmax };

// out[o, i] = op over d of x[o, d, i]. max/min write the position of the first winner into indices when it is
// not null (NaN wins, as in PyTorch); argmax writes only indices (out may be null). dim >= 1 for max/min/argmax.
void reduce_forward(ReduceOp op, const float* x, float* out, int32_t* indices, int64_t outer, int64_t dim,
                    int64_t inner);

// The sum of x[0, n), built with AVX2 (reduce_avx2.cc); the same bits as the portable build.
float sum_contiguous_avx2(const float* x, int64_t n);

// dx = 0 except dx[o, indices[o, i], i] = dy[o, i]; every index must lie in [0, dim).
void index_backward(const float* dy, const int32_t* indices, float* dx, int64_t outer, int64_t dim, int64_t inner);

// out (out_shape) = x (x_shape, contiguous) summed over the dims where out_shape is 1 and x_shape is not.
// Both shapes have ndim <= 8 dims and each out dim equals the x dim or 1. Deterministic at any thread count.
void sum_to_shape(const float* x, const int64_t* x_shape, float* out, const int64_t* out_shape, int ndim);

}  // namespace tn
