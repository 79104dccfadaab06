// Element-wise kernels: binary ops with broadcasting, unary ops and their backward, fill, int32/float32 casts,
// comparisons with a scalar.
#pragma once
#include <cstdint>

namespace tn {

constexpr int kMaxDims = 8;

enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum };
enum class CompareOp { eq, ne };
enum class UnaryOp { neg, exp, log, sqrt, tanh, relu, sigmoid, gelu, gelu_tanh, abs, scale, add_scalar, pow_scalar };

// out (contiguous, `shape` of `ndim` <= kMaxDims dims) = a op b, a and b read through element strides
// (0 broadcasts). out may alias a or b where they are contiguous.
void binary_forward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
                    float* out, const int64_t* shape, int ndim);

// out[i] = f(x[i]); param is the factor of scale, the addend of add_scalar, the exponent of pow_scalar.
void unary_forward(UnaryOp op, const float* x, float* out, int64_t n, float param);
// dx[i] = dy[i] * f'(x[i]), with y = f(x) for the ops whose derivative is cheaper from it.
void unary_backward(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n, float param);

// A binary op's iteration space after dropping size-1 dims and merging dims that are contiguous in a, b and
// out alike; out is contiguous over `shape`.
struct BroadcastLayout {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t a_strides[kMaxDims];
  int64_t b_strides[kMaxDims];
};

// AVX2+FMA twins of the loops (elementwise_avx2.cc); each handles one chunk of a parallel_for.
void binary_range_avx2(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout,
                       int64_t begin, int64_t end);
void unary_forward_avx2(UnaryOp op, const float* x, float* out, int64_t n, float param);
void unary_backward_avx2(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                         float param);
// The same loops 16 wide (elementwise_avx512.cc).
void binary_range_avx512(BinaryOp op, const float* a, const float* b, float* out, const BroadcastLayout& layout,
                         int64_t begin, int64_t end);
void unary_forward_avx512(UnaryOp op, const float* x, float* out, int64_t n, float param);
void unary_backward_avx512(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                           float param);

// out (contiguous, `shape`) = value where the int32 mask (read through strides, 0 broadcasts) is nonzero, else x
// (contiguous, `shape`). The same call with x = dy and value = 0 is its backward. out may alias x.
void masked_fill(const float* x, const int32_t* mask, const int64_t* mask_strides, float* out, const int64_t* shape,
                 int ndim, float value);

void fill(float* dst, int64_t n, float value);
void cast_int32_to_float(const int32_t* src, float* dst, int64_t n);
// Truncates toward zero; NaN gives 0 and out-of-range values saturate, so every input is defined.
void cast_float_to_int32(const float* src, int32_t* dst, int64_t n);

// dst[i] = 1 where src[i] op value holds, else 0 (int32: a bool tensor's storage). src holds int32 when src_is_int,
// else float32; both compare exactly with value (NaN equals nothing). dst may alias src.
void compare_scalar(CompareOp op, const void* src, bool src_is_int, double value, int32_t* dst, int64_t n);

}  // namespace tn
