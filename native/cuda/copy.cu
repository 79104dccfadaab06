// Strided copy of 4-byte elements on the GPU: one thread per element of `shape`, the source and destination
// offsets computed from the flat index.
#include "../cpu/copy.h"
#include "../cpu/elementwise.h"
#include "runtime.cuh"

namespace tn {
namespace {

struct CopyLayout {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t src_strides[kMaxDims];
  int64_t dst_strides[kMaxDims];
};

__global__ void copy_strided_kernel(const uint32_t* src, uint32_t* dst, CopyLayout L, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i, s = 0, d = 0;
    for (int k = L.ndim - 1; k >= 0; --k) {
      const int64_t idx = rest % L.shape[k];
      rest /= L.shape[k];
      s += idx * L.src_strides[k];
      d += idx * L.dst_strides[k];
    }
    dst[d] = src[s];
  }
}

}  // namespace

void copy_strided(const uint32_t* src, const int64_t* src_strides, uint32_t* dst, const int64_t* dst_strides,
                  const int64_t* shape, int ndim) {
  CopyLayout L{};
  int64_t n = 1;
  // Size-1 dims do not move the offsets; dims that are contiguous in both views merge into one.
  for (int d = 0; d < ndim; ++d) {
    n *= shape[d];
    if (shape[d] == 1) continue;
    const int k = L.ndim - 1;
    if (k >= 0 && L.src_strides[k] == src_strides[d] * shape[d] && L.dst_strides[k] == dst_strides[d] * shape[d]) {
      L.shape[k] *= shape[d];
      L.src_strides[k] = src_strides[d];
      L.dst_strides[k] = dst_strides[d];
      continue;
    }
    L.shape[L.ndim] = shape[d];
    L.src_strides[L.ndim] = src_strides[d];
    L.dst_strides[L.ndim] = dst_strides[d];
    ++L.ndim;
  }
  if (n == 0) return;
  if (L.ndim == 0) {
    L.ndim = 1;
    L.shape[0] = 1;
  }
  copy_strided_kernel<<<grid_for(n, 256), 256, 0, cuda_stream()>>>(src, dst, L, n);
  cuda_check_launch("copyStrided");
}

}  // namespace tn
