#include "copy.h"

#include <algorithm>
#include <cstring>

#include "threadpool.h"

namespace tn {
namespace {

constexpr int kMaxCopyDims = 8;
constexpr int64_t kGrain = 32768;  // elements per thread below which splitting costs more than it saves

struct CopyLayout {
  int ndim;
  int64_t shape[kMaxCopyDims];
  int64_t src[kMaxCopyDims];
  int64_t dst[kMaxCopyDims];
};

// Drops size-1 dims and merges a dim into the one before it when both sides step over them as one row.
CopyLayout collapse(const int64_t* src_strides, const int64_t* dst_strides, const int64_t* shape, int ndim) {
  CopyLayout L{};
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] == 1) continue;
    const int k = L.ndim - 1;
    if (k >= 0 && L.src[k] == src_strides[d] * shape[d] && L.dst[k] == dst_strides[d] * shape[d]) {
      L.shape[k] *= shape[d];
      L.src[k] = src_strides[d];
      L.dst[k] = dst_strides[d];
      continue;
    }
    L.shape[L.ndim] = shape[d];
    L.src[L.ndim] = src_strides[d];
    L.dst[L.ndim] = dst_strides[d];
    ++L.ndim;
  }
  if (L.ndim == 0) {
    L.ndim = 1;
    L.shape[0] = 1;
    L.src[0] = L.dst[0] = 1;
  }
  return L;
}

// Elements [begin, end) in row-major order of the collapsed shape, row by row along the innermost dim.
void copy_range(const uint32_t* src, uint32_t* dst, const CopyLayout& L, int64_t begin, int64_t end) {
  const int last = L.ndim - 1;
  const int64_t inner = L.shape[last], ss = L.src[last], ds = L.dst[last];
  int64_t index[kMaxCopyDims];
  int64_t s_off = 0, d_off = 0;
  for (int64_t d = last, rest = begin; d >= 0; --d) {
    index[d] = rest % L.shape[d];
    rest /= L.shape[d];
    s_off += index[d] * L.src[d];
    d_off += index[d] * L.dst[d];
  }
  for (int64_t i = begin; i < end;) {
    const int64_t len = std::min(inner - index[last], end - i);
    const uint32_t* s = src + s_off;
    uint32_t* t = dst + d_off;
    if (ss == 1 && ds == 1) {
      std::memcpy(t, s, len * sizeof(uint32_t));
    } else if (ss == 0 && ds == 1) {  // expand along the row
      std::fill(t, t + len, s[0]);
    } else {
      for (int64_t k = 0; k < len; ++k) t[k * ds] = s[k * ss];
    }
    i += len;
    index[last] += len;
    s_off += len * ss;
    d_off += len * ds;
    for (int d = last; d > 0 && index[d] == L.shape[d]; --d) {
      s_off += L.src[d - 1] - L.shape[d] * L.src[d];
      d_off += L.dst[d - 1] - L.shape[d] * L.dst[d];
      index[d] = 0;
      ++index[d - 1];
    }
  }
}

}  // namespace

void copy_strided(const uint32_t* src, const int64_t* src_strides, uint32_t* dst, const int64_t* dst_strides,
                  const int64_t* shape, int ndim) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  const CopyLayout layout = collapse(src_strides, dst_strides, shape, ndim);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) { copy_range(src, dst, layout, begin, end); });
}

}  // namespace tn
