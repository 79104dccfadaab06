// Element-wise kernels on the GPU: broadcast binary ops, unary ops and their backward, masked fill, fill, casts
// and comparisons with a scalar. The formulas are those of native/cpu/elementwise_loops.inc (same operation
// order), so results agree with the CPU up to the last-ulp differences of the device math library.
#include <climits>

#include "../cpu/elementwise.h"
#include "runtime.cuh"

namespace tn {
namespace {

constexpr int kThreads = 256;
constexpr float kSqrtHalf = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kGeluTanhK = 0.79788456080286536f;
constexpr float kGeluTanhC = 0.044715f;

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float two_phi(float x) { return erfcf(-x * kSqrtHalf); }
__device__ __forceinline__ float gelu_tanh_gate(float x) {
  return sigmoid(2.0f * kGeluTanhK * (x + kGeluTanhC * x * x * x));
}

template <BinaryOp op>
__device__ __forceinline__ float binary_apply(float a, float b) {
  if (op == BinaryOp::add) return a + b;
  if (op == BinaryOp::sub) return a - b;
  if (op == BinaryOp::mul) return a * b;
  if (op == BinaryOp::div) return a / b;
  if (op == BinaryOp::pow) return powf(a, b);
  if (op == BinaryOp::maximum) return (a > b || a != a) ? a : b;  // NaN on either side wins, as in PyTorch
  return (a < b || a != a) ? a : b;
}

// The iteration space with size-1 dims dropped and dims merged where a, b and out all step through them as
// one longer row (out is contiguous).
struct Layout {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t a_strides[kMaxDims];
  int64_t b_strides[kMaxDims];
};

Layout merge_dims(const int64_t* a_strides, const int64_t* b_strides, const int64_t* shape, int ndim) {
  Layout L{};
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    const int k = L.ndim - 1;
    if (k >= 0 && L.a_strides[k] == a_strides[d] * shape[d] && L.b_strides[k] == b_strides[d] * shape[d]) {
      L.shape[k] *= shape[d];
      L.a_strides[k] = a_strides[d];
      L.b_strides[k] = b_strides[d];
      continue;
    }
    L.shape[L.ndim] = shape[d];
    L.a_strides[L.ndim] = a_strides[d];
    L.b_strides[L.ndim] = b_strides[d];
    ++L.ndim;
  }
  if (L.ndim == 0) {
    L.ndim = 1;
    L.shape[0] = 1;
    L.a_strides[0] = L.b_strides[0] = 1;
  }
  return L;
}

template <BinaryOp op>
__global__ void binary_kernel(const float* a, const float* b, float* out, Layout L, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, a_off = 0, b_off = 0;
    for (int d = L.ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % L.shape[d];
      rest /= L.shape[d];
      a_off += idx * L.a_strides[d];
      b_off += idx * L.b_strides[d];
    }
    out[i] = binary_apply<op>(a[a_off], b[b_off]);
  }
}

// The common one-dimensional cases (both contiguous, or one side a broadcast scalar) without index math.
template <BinaryOp op>
__global__ void binary_flat_kernel(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = binary_apply<op>(a[i * sa], b[i * sb]);
}

template <BinaryOp op>
void launch_binary(const float* a, const float* b, float* out, const Layout& L, int64_t n) {
  const unsigned grid = grid_for(n, kThreads);
  if (L.ndim == 1)
    binary_flat_kernel<op><<<grid, kThreads, 0, cuda_stream()>>>(a, L.a_strides[0], b, L.b_strides[0], out, n);
  else
    binary_kernel<op><<<grid, kThreads, 0, cuda_stream()>>>(a, b, out, L, n);
}

__device__ __forceinline__ float unary_apply(UnaryOp op, float v, float p) {
  switch (op) {
    case UnaryOp::neg:
      return -v;
    case UnaryOp::exp:
      return expf(v);
    case UnaryOp::log:
      return logf(v);
    case UnaryOp::sqrt:
      return sqrtf(v);
    case UnaryOp::tanh:
      return tanhf(v);
    case UnaryOp::relu:
      return v < 0.0f ? 0.0f : v;  // keeps NaN
    case UnaryOp::sigmoid:
      return sigmoid(v);
    case UnaryOp::gelu:
      return 0.5f * v * two_phi(v);
    case UnaryOp::gelu_tanh:
      return v * gelu_tanh_gate(v);
    case UnaryOp::abs:
      return fabsf(v);
    case UnaryOp::scale:
      return v * p;
    case UnaryOp::add_scalar:
      return v + p;
    case UnaryOp::pow_scalar:
      return p == 2.0f ? v * v : powf(v, p);
  }
  return v;
}

__device__ __forceinline__ float unary_grad(UnaryOp op, float x, float y, float g, float p) {
  switch (op) {
    case UnaryOp::neg:
      return -g;
    case UnaryOp::exp:
      return g * y;
    case UnaryOp::log:
      return g / x;
    case UnaryOp::sqrt:
      return g / (2.0f * y);
    case UnaryOp::tanh:
      return g * (1.0f - y * y);
    case UnaryOp::relu:
      return x > 0.0f ? g : 0.0f;
    case UnaryOp::sigmoid:
      return g * y * (1.0f - y);
    case UnaryOp::gelu:
      return g * (0.5f * two_phi(x) + x * kInvSqrt2Pi * expf(-0.5f * x * x));
    case UnaryOp::gelu_tanh: {
      const float s = gelu_tanh_gate(x);
      const float du = kGeluTanhK * (1.0f + 3.0f * kGeluTanhC * x * x);
      return g * (s + 2.0f * x * s * (1.0f - s) * du);
    }
    case UnaryOp::abs:
      return x > 0.0f ? g : (x < 0.0f ? -g : 0.0f);
    case UnaryOp::scale:
      return g * p;
    case UnaryOp::add_scalar:
      return g;
    case UnaryOp::pow_scalar:
      if (p == 0.0f) return 0.0f;
      if (p == 2.0f) return g * 2.0f * x;
      return g * p * powf(x, p - 1.0f);
  }
  return g;
}

// The op is a template parameter so each instantiation is a straight-line loop.
template <UnaryOp op>
__global__ void unary_kernel(const float* x, float* out, int64_t n, float p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = unary_apply(op, x[i], p);
}

template <UnaryOp op>
__global__ void unary_backward_kernel(const float* x, const float* y, const float* dy, float* dx, int64_t n, float p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = unary_grad(op, x[i], y[i], dy[i], p);
}

struct UnaryLaunch {
  const float* x;
  float* out;
  int64_t n;
  float p;
  template <UnaryOp op>
  void operator()() const {
    unary_kernel<op><<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(x, out, n, p);
  }
};

struct UnaryBackwardLaunch {
  const float *x, *y, *dy;
  float* dx;
  int64_t n;
  float p;
  template <UnaryOp op>
  void operator()() const {
    unary_backward_kernel<op><<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(x, y, dy, dx, n, p);
  }
};

// Calls f.template operator()<op>() with op a compile-time constant.
template <class F>
void dispatch_unary(UnaryOp op, const F& f) {
  switch (op) {
    case UnaryOp::neg:
      return f.template operator()<UnaryOp::neg>();
    case UnaryOp::exp:
      return f.template operator()<UnaryOp::exp>();
    case UnaryOp::log:
      return f.template operator()<UnaryOp::log>();
    case UnaryOp::sqrt:
      return f.template operator()<UnaryOp::sqrt>();
    case UnaryOp::tanh:
      return f.template operator()<UnaryOp::tanh>();
    case UnaryOp::relu:
      return f.template operator()<UnaryOp::relu>();
    case UnaryOp::sigmoid:
      return f.template operator()<UnaryOp::sigmoid>();
    case UnaryOp::gelu:
      return f.template operator()<UnaryOp::gelu>();
    case UnaryOp::gelu_tanh:
      return f.template operator()<UnaryOp::gelu_tanh>();
    case UnaryOp::abs:
      return f.template operator()<UnaryOp::abs>();
    case UnaryOp::scale:
      return f.template operator()<UnaryOp::scale>();
    case UnaryOp::add_scalar:
      return f.template operator()<UnaryOp::add_scalar>();
    case UnaryOp::pow_scalar:
      return f.template operator()<UnaryOp::pow_scalar>();
  }
}

// The mask's strides are L.a_strides (a layout merged with the mask on both sides: out and x are contiguous).
// Each thread reads x[i] before writing out[i], so out may alias x.
__global__ void masked_fill_kernel(const float* x, const int32_t* mask, float* out, Layout L, int64_t n, float value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, m = 0;
    for (int d = L.ndim - 1; d >= 0; --d) {
      m += (rest % L.shape[d]) * L.a_strides[d];
      rest /= L.shape[d];
    }
    const float v = x[i];
    out[i] = mask[m] != 0 ? value : v;
  }
}

// Compared in double: every int32 and every float32 converts exactly, so the result is that of the exact values.
template <typename T>
__global__ void compare_scalar_kernel(CompareOp op, const T* src, double value, int32_t* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const bool equal = static_cast<double>(src[i]) == value;
    dst[i] = (op == CompareOp::eq) == equal ? 1 : 0;
  }
}

__global__ void fill_kernel(float* dst, int64_t n, float value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = value;
}

__global__ void int_to_float_kernel(const int32_t* src, float* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = static_cast<float>(src[i]);
}

__global__ void float_to_int_kernel(const float* src, int32_t* dst, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const float v = src[i];
    // Truncation with NaN -> 0 and saturation, as the CPU kernel.
    dst[i] = v != v ? 0 : (v >= 2147483648.0f ? INT_MAX : (v <= -2147483648.0f ? INT_MIN : static_cast<int32_t>(v)));
  }
}

}  // namespace

void binary_forward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
                    float* out, const int64_t* shape, int ndim) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  const Layout L = merge_dims(a_strides, b_strides, shape, ndim);
  switch (op) {
    case BinaryOp::add:
      launch_binary<BinaryOp::add>(a, b, out, L, n);
      break;
    case BinaryOp::sub:
      launch_binary<BinaryOp::sub>(a, b, out, L, n);
      break;
    case BinaryOp::mul:
      launch_binary<BinaryOp::mul>(a, b, out, L, n);
      break;
    case BinaryOp::div:
      launch_binary<BinaryOp::div>(a, b, out, L, n);
      break;
    case BinaryOp::pow:
      launch_binary<BinaryOp::pow>(a, b, out, L, n);
      break;
    case BinaryOp::maximum:
      launch_binary<BinaryOp::maximum>(a, b, out, L, n);
      break;
    case BinaryOp::minimum:
      launch_binary<BinaryOp::minimum>(a, b, out, L, n);
      break;
  }
  cuda_check_launch("binary");
}

void unary_forward(UnaryOp op, const float* x, float* out, int64_t n, float param) {
  if (n == 0) return;
  dispatch_unary(op, UnaryLaunch{x, out, n, param});
  cuda_check_launch("unary");
}

void unary_backward(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n, float param) {
  if (n == 0) return;
  dispatch_unary(op, UnaryBackwardLaunch{x, y, dy, dx, n, param});
  cuda_check_launch("unaryBackward");
}

void masked_fill(const float* x, const int32_t* mask, const int64_t* mask_strides, float* out, const int64_t* shape,
                 int ndim, float value) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  // Size-1 dims dropped and dims merged where the mask steps through them as one row.
  const Layout L = merge_dims(mask_strides, mask_strides, shape, ndim);
  masked_fill_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(x, mask, out, L, n, value);
  cuda_check_launch("maskedFill");
}

void compare_scalar(CompareOp op, const void* src, bool src_is_int, double value, int32_t* dst, int64_t n) {
  if (n == 0) return;
  const unsigned grid = grid_for(n, kThreads);
  if (src_is_int)
    compare_scalar_kernel<<<grid, kThreads, 0, cuda_stream()>>>(op, static_cast<const int32_t*>(src), value, dst, n);
  else
    compare_scalar_kernel<<<grid, kThreads, 0, cuda_stream()>>>(op, static_cast<const float*>(src), value, dst, n);
  cuda_check_launch("compareScalar");
}

void fill(float* dst, int64_t n, float value) {
  if (n == 0) return;
  fill_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(dst, n, value);
  cuda_check_launch("fill");
}

void cast_int32_to_float(const int32_t* src, float* dst, int64_t n) {
  if (n == 0) return;
  int_to_float_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(src, dst, n);
  cuda_check_launch("cast");
}

void cast_float_to_int32(const float* src, int32_t* dst, int64_t n) {
  if (n == 0) return;
  float_to_int_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(src, dst, n);
  cuda_check_launch("cast");
}

}  // namespace tn
