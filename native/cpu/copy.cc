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
      std::memmove(t, s, len * sizeof(uint32_t));
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

// For transpose-like copies: the dim (other than the innermost) along which the side that the innermost dim
// strides over is contiguous, or -1. Walking row by row there would touch a new cache line per element.
int transposed_dim(const CopyLayout& L) {
  const int last = L.ndim - 1;
  const int64_t ss = L.src[last], ds = L.dst[last];
  if ((ss == 1) == (ds == 1)) return -1;
  for (int k = 0; k < last; ++k)
    if ((ss == 1 ? L.dst[k] : L.src[k]) == 1) return k;
  return -1;
}

// Copies in kTile x kTile tiles of dims (k, last), so each tile's source and destination lines stay in L1.
void copy_tiled(const uint32_t* src, uint32_t* dst, const CopyLayout& L, int k) {
  constexpr int64_t kTile = 32;
  const int last = L.ndim - 1;
  const int64_t rows = L.shape[k], cols = L.shape[last];
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  int64_t outer = 1;
  for (int d = 0; d < last; ++d)
    if (d != k) outer *= L.shape[d];
  parallel_for(outer * row_tiles * col_tiles, std::max<int64_t>(1, kGrain / (kTile * kTile)),
               [&](int64_t b, int64_t e) {
                 for (int64_t task = b; task < e; ++task) {
                   const int64_t c0 = (task % col_tiles) * kTile, r0 = (task / col_tiles % row_tiles) * kTile;
                   int64_t o = task / (col_tiles * row_tiles), s_off = 0, d_off = 0;
                   for (int d = last - 1; d >= 0; --d) {
                     if (d == k) continue;
                     s_off += (o % L.shape[d]) * L.src[d];
                     d_off += (o % L.shape[d]) * L.dst[d];
                     o /= L.shape[d];
                   }
                   const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
                   const int64_t src_row = L.src[k], dst_row = L.dst[k], src_col = L.src[last], dst_col = L.dst[last];
                   for (int64_t r = r0; r < r1; ++r) {
                     const uint32_t* s = src + s_off + r * src_row;
                     uint32_t* t = dst + d_off + r * dst_row;
                     for (int64_t c = c0; c < c1; ++c) t[c * dst_col] = s[c * src_col];
                   }
                 }
               });
}

}  // namespace

void copy_strided(const uint32_t* src, const int64_t* src_strides, uint32_t* dst, const int64_t* dst_strides,
                  const int64_t* shape, int ndim) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  const CopyLayout layout = collapse(src_strides, dst_strides, shape, ndim);
  const int k = transposed_dim(layout);
  if (k >= 0) return copy_tiled(src, dst, layout, k);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) { copy_range(src, dst, layout, begin, end); });
}

}  // namespace tn
