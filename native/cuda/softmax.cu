// Softmax / log-softmax along the middle axis of [outer, dim, inner] on the GPU: a block per row when the
// axis is contiguous (inner == 1), a thread per column otherwise (consecutive threads, consecutive inner).
#include "../cpu/softmax.h"
#include "runtime.cuh"

namespace tn {
namespace {

constexpr int kThreads = 256;

__global__ void softmax_rows_kernel(float* out, const float* x, int64_t rows, int64_t dim, bool log) {
  __shared__ float partial[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * dim;
    float* o = out + row * dim;
    float m = -INFINITY;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) m = fmaxf(m, xr[d]);
    m = block_max(m, partial);
    __syncthreads();
    float s = 0.0f;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) s += expf(xr[d] - m);
    s = block_sum(s, partial);
    __syncthreads();
    if (log) {
      const float log_sum = logf(s);
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) o[d] = (xr[d] - m) - log_sum;
    } else {
      const float inv = 1.0f / s;
      for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) o[d] = expf(xr[d] - m) * inv;
    }
  }
}

__global__ void softmax_columns_kernel(float* out, const float* x, int64_t outer, int64_t dim, int64_t inner,
                                       bool log) {
  const int64_t total = outer * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = t / inner, i = t - o * inner;
    const float* xc = x + o * dim * inner + i;
    float* oc = out + o * dim * inner + i;
    float m = -INFINITY;
    for (int64_t d = 0; d < dim; ++d) m = fmaxf(m, xc[d * inner]);
    float s = 0.0f;
    for (int64_t d = 0; d < dim; ++d) s += expf(xc[d * inner] - m);
    if (log) {
      const float log_sum = logf(s);
      for (int64_t d = 0; d < dim; ++d) oc[d * inner] = (xc[d * inner] - m) - log_sum;
    } else {
      const float inv = 1.0f / s;
      for (int64_t d = 0; d < dim; ++d) oc[d * inner] = expf(xc[d * inner] - m) * inv;
    }
  }
}

// softmax: dx = y * (dy - sum(dy * y)); log-softmax: dx = dy - exp(y) * sum(dy).
__global__ void softmax_backward_rows_kernel(float* dx, const float* y, const float* dy, int64_t rows, int64_t dim,
                                             bool log) {
  __shared__ float partial[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* yr = y + row * dim;
    const float* gr = dy + row * dim;
    float* o = dx + row * dim;
    float s = 0.0f;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) s += log ? gr[d] : gr[d] * yr[d];
    s = block_sum(s, partial);
    __syncthreads();
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) o[d] = log ? gr[d] - expf(yr[d]) * s : yr[d] * (gr[d] - s);
  }
}

__global__ void softmax_backward_columns_kernel(float* dx, const float* y, const float* dy, int64_t outer, int64_t dim,
                                                int64_t inner, bool log) {
  const int64_t total = outer * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = t / inner, i = t - o * inner;
    const int64_t base = o * dim * inner + i;
    float s = 0.0f;
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t k = base + d * inner;
      s += log ? dy[k] : dy[k] * y[k];
    }
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t k = base + d * inner;
      dx[k] = log ? dy[k] - expf(y[k]) * s : y[k] * (dy[k] - s);
    }
  }
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(rows < 65535 * 8 ? rows : 65535 * 8); }

}  // namespace

void softmax_forward(float* out, const float* x, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (outer * inner == 0) return;
  if (inner == 1) {
    const int threads = dim <= 256 ? 64 : kThreads;
    softmax_rows_kernel<<<row_blocks(outer), threads, 0, cuda_stream()>>>(out, x, outer, dim, log);
  } else {
    softmax_columns_kernel<<<grid_for(outer * inner, kThreads), kThreads, 0, cuda_stream()>>>(out, x, outer, dim, inner,
                                                                                              log);
  }
  cuda_check_launch("softmaxForward");
}

void softmax_backward(float* dx, const float* y, const float* dy, int64_t outer, int64_t dim, int64_t inner, bool log) {
  if (outer * inner == 0) return;
  if (inner == 1) {
    const int threads = dim <= 256 ? 64 : kThreads;
    softmax_backward_rows_kernel<<<row_blocks(outer), threads, 0, cuda_stream()>>>(dx, y, dy, outer, dim, log);
  } else {
    softmax_backward_columns_kernel<<<grid_for(outer * inner, kThreads), kThreads, 0, cuda_stream()>>>(dx, y, dy, outer,
                                                                                                       dim, inner, log);
  }
  cuda_check_launch("softmaxBackward");
}

}  // namespace tn
