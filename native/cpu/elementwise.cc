#include "elementwise.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "copy.h"
#include "elementwise_loops.inc"
#include "isa.h"
#include "threadpool.h"

namespace tn {
namespace {

constexpr int64_t kGrain = 32768;  // elements per thread below which splitting costs more than it saves

BroadcastLayout make_layout(const int64_t* a_strides, const int64_t* b_strides, const int64_t* shape, int ndim) {
  BroadcastLayout L{};
  L.ndim = 0;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    const int k = L.ndim - 1;
    // Merge into the previous kept dim when both operands step over it as one longer row.
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
  if (L.ndim == 0) {  // a single element
    L.ndim = 1;
    L.shape[0] = 1;
    L.a_strides[0] = L.b_strides[0] = 1;
  }
  return L;
}

// True for a transposed-like operand: contiguous along an outer dim but not along the innermost one, so the
// row-by-row walk would touch a new cache line for every element it reads.
bool is_transposed(const int64_t* strides, const BroadcastLayout& L) {
  const int64_t inner = strides[L.ndim - 1];
  if (inner == 0 || inner == 1) return false;
  for (int d = 0; d < L.ndim - 1; ++d)
    if (strides[d] == 1) return true;
  return false;
}

// Copies an operand's view into `buffer`, contiguous over the layout's shape (the strided copy goes tile by
// tile), and points its strides there.
const float* make_contiguous(const float* x, int64_t* strides, const BroadcastLayout& L, std::vector<float>& buffer) {
  int64_t contiguous[kMaxDims];
  int64_t n = 1;
  for (int d = L.ndim - 1; d >= 0; --d) {
    contiguous[d] = n;
    n *= L.shape[d];
  }
  buffer.resize(n);
  copy_strided(reinterpret_cast<const uint32_t*>(x), strides, reinterpret_cast<uint32_t*>(buffer.data()), contiguous,
               L.shape, L.ndim);
  std::copy(contiguous, contiguous + L.ndim, strides);
  return buffer.data();
}

}  // namespace

void binary_forward(BinaryOp op, const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
                    float* out, const int64_t* shape, int ndim) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  BroadcastLayout layout = make_layout(a_strides, b_strides, shape, ndim);
  std::vector<float> a_copy, b_copy;
  if (is_transposed(layout.a_strides, layout)) a = make_contiguous(a, layout.a_strides, layout, a_copy);
  if (is_transposed(layout.b_strides, layout)) b = make_contiguous(b, layout.b_strides, layout, b_copy);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
#ifdef TN_HAVE_AVX512
    if (active_isa() == Isa::avx512) return binary_range_avx512(op, a, b, out, layout, begin, end);
#endif
#ifdef TN_HAVE_AVX2
    if (use_avx2_kernels()) return binary_range_avx2(op, a, b, out, layout, begin, end);
#endif
    binary_range_chunk(op, a, b, out, layout, begin, end);
  });
}

void unary_forward(UnaryOp op, const float* x, float* out, int64_t n, float param) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
#ifdef TN_HAVE_AVX512
    if (active_isa() == Isa::avx512) return unary_forward_avx512(op, x + begin, out + begin, end - begin, param);
#endif
#ifdef TN_HAVE_AVX2
    if (use_avx2_kernels()) return unary_forward_avx2(op, x + begin, out + begin, end - begin, param);
#endif
    unary_forward_chunk(op, x + begin, out + begin, end - begin, param);
  });
}

void unary_backward(UnaryOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n, float param) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
#ifdef TN_HAVE_AVX512
    if (active_isa() == Isa::avx512)
      return unary_backward_avx512(op, x + begin, y + begin, dy + begin, dx + begin, end - begin, param);
#endif
#ifdef TN_HAVE_AVX2
    if (use_avx2_kernels())
      return unary_backward_avx2(op, x + begin, y + begin, dy + begin, dx + begin, end - begin, param);
#endif
    unary_backward_chunk(op, x + begin, y + begin, dy + begin, dx + begin, end - begin, param);
  });
}

void masked_fill(const float* x, const int32_t* mask, const int64_t* mask_strides, float* out, const int64_t* shape,
                 int ndim, float value) {
  // Rows along the last dim; the outer dims are walked by an odometer recomputed at each chunk start.
  const int64_t inner = ndim == 0 ? 1 : shape[ndim - 1];
  const int64_t inner_stride = ndim == 0 ? 0 : mask_strides[ndim - 1];
  int64_t rows = 1;
  for (int d = 0; d + 1 < ndim; ++d) rows *= shape[d];
  if (inner == 0) return;
  parallel_for(rows, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t mask_offset = 0;
      for (int64_t d = ndim - 2, rest = r; d >= 0; --d) {
        mask_offset += (rest % shape[d]) * mask_strides[d];
        rest /= shape[d];
      }
      const float* xr = x + r * inner;
      float* outr = out + r * inner;
      const int32_t* m = mask + mask_offset;
      for (int64_t j = 0; j < inner; ++j) outr[j] = m[j * inner_stride] != 0 ? value : xr[j];
    }
  });
}

void fill(float* dst, int64_t n, float value) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) { std::fill(dst + begin, dst + end, value); });
}

void cast_int32_to_float(const int32_t* src, float* dst, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<float>(src[i]);
  });
}

void cast_float_to_int32(const float* src, int32_t* dst, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float v = src[i];
      // 2^31 is exactly representable; every float below it (and above -2^31) truncates into int32 range.
      if (v != v)
        dst[i] = 0;
      else if (v >= 2147483648.0f)
        dst[i] = std::numeric_limits<int32_t>::max();
      else if (v <= -2147483648.0f)
        dst[i] = std::numeric_limits<int32_t>::min();
      else
        dst[i] = static_cast<int32_t>(v);
    }
  });
}

namespace {

template <typename T>
void compare_range(CompareOp op, const T* src, double value, int32_t* dst, int64_t begin, int64_t end) {
  // One loop per op, each a plain compare-and-select the compiler vectorizes.
  if (op == CompareOp::eq)
    for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<double>(src[i]) == value ? 1 : 0;
  else
    for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<double>(src[i]) != value ? 1 : 0;
}

}  // namespace

void compare_scalar(CompareOp op, const void* src, bool src_is_int, double value, int32_t* dst, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    if (src_is_int)
      compare_range(op, static_cast<const int32_t*>(src), value, dst, begin, end);
    else
      compare_range(op, static_cast<const float*>(src), value, dst, begin, end);
  });
}

}  // namespace tn
