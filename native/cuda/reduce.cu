// Reductions over the middle axis of [outer, dim, inner] on the GPU, the scatter that is the backward of
// max/min, and the sum that undoes a broadcast. Max/min follow the CPU rules: the first winner is kept on
// ties and the first NaN wins.
#include "../cpu/elementwise.h"
#include "../cpu/reduce.h"
#include "runtime.cuh"

namespace tn {
namespace {

struct Pick {
  float value;
  int32_t index;
};

// The winner of two candidates as a left-to-right scan would choose it.
template <bool is_max>
__device__ __forceinline__ Pick combine(Pick a, Pick b) {
  const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
  if (a_nan || b_nan) {
    if (a_nan && b_nan) return a.index <= b.index ? a : b;
    return a_nan ? a : b;
  }
  const bool b_better = is_max ? b.value > a.value : b.value < a.value;
  if (b_better) return b;
  if (b.value == a.value && b.index < a.index) return b;
  return a;
}

// One warp per row of a contiguous [rows, dim] tensor (inner == 1).
template <ReduceOp op>
__global__ void reduce_rows_kernel(const float* x, float* out, int32_t* indices, int64_t rows, int64_t dim) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = (int64_t(gridDim.x) * blockDim.x) >> 5;
  for (int64_t row = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) >> 5; row < rows; row += warps) {
    const float* r = x + row * dim;
    if (op == ReduceOp::sum || op == ReduceOp::mean) {
      float s = 0.0f;
      for (int64_t d = lane; d < dim; d += 32) s += r[d];
      s = warp_sum(s);
      if (lane == 0) out[row] = op == ReduceOp::mean ? s / static_cast<float>(dim) : s;
    } else {
      constexpr bool is_max = op != ReduceOp::min;
      Pick best{lane < dim ? r[lane] : (is_max ? -INFINITY : INFINITY), lane < dim ? lane : INT32_MAX};
      for (int64_t d = lane + 32; d < dim; d += 32) best = combine<is_max>(best, Pick{r[d], static_cast<int32_t>(d)});
      for (int offset = 16; offset > 0; offset >>= 1) {
        const Pick other{__shfl_xor_sync(0xffffffffu, best.value, offset),
                         __shfl_xor_sync(0xffffffffu, best.index, offset)};
        best = combine<is_max>(best, other);
      }
      if (lane == 0) {
        if (out && op != ReduceOp::argmax) out[row] = best.value;
        if (indices) indices[row] = best.index;
      }
    }
  }
}

// One thread per (o, i) column when inner > 1: consecutive threads read consecutive addresses, and the sum
// runs over d in order, as on the CPU.
template <ReduceOp op>
__global__ void reduce_columns_kernel(const float* x, float* out, int32_t* indices, int64_t outer, int64_t dim,
                                      int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = t / inner, i = t - o * inner;
    const float* col = x + o * dim * inner + i;
    if (op == ReduceOp::sum || op == ReduceOp::mean) {
      float s = 0.0f;
      for (int64_t d = 0; d < dim; ++d) s += col[d * inner];
      out[t] = op == ReduceOp::mean ? s / static_cast<float>(dim) : s;
    } else {
      constexpr bool is_max = op != ReduceOp::min;
      float best = col[0];
      int32_t at = 0;
      for (int64_t d = 1; d < dim; ++d) {
        const float v = col[d * inner];
        const bool beats = is_max ? (v > best || (v != v && best == best)) : (v < best || (v != v && best == best));
        if (beats) {
          best = v;
          at = static_cast<int32_t>(d);
        }
      }
      if (out && op != ReduceOp::argmax) out[t] = best;
      if (indices) indices[t] = at;
    }
  }
}

template <ReduceOp op>
void launch_reduce(const float* x, float* out, int32_t* indices, int64_t outer, int64_t dim, int64_t inner) {
  if (inner == 1) {
    reduce_rows_kernel<op><<<grid_for(outer * 32, 256), 256, 0, cuda_stream()>>>(x, out, indices, outer, dim);
  } else {
    reduce_columns_kernel<op>
        <<<grid_for(outer * inner, 256), 256, 0, cuda_stream()>>>(x, out, indices, outer, dim, inner);
  }
}

__global__ void index_scatter_kernel(const float* dy, const int32_t* indices, float* dx, int64_t outer, int64_t dim,
                                     int64_t inner) {
  const int64_t total = outer * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = t / inner, i = t - o * inner;
    dx[(o * dim + indices[t]) * inner + i] = dy[t];
  }
}

// Axes of x (sizes and element strides, x contiguous): those kept in out and those summed away.
struct Axes {
  int count;
  int64_t size[kMaxDims];
  int64_t stride[kMaxDims];
};

__device__ __forceinline__ int64_t offset_of(int64_t k, const Axes& axes) {
  int64_t offset = 0;
  for (int a = axes.count - 1; a >= 0; --a) {
    offset += (k % axes.size[a]) * axes.stride[a];
    k /= axes.size[a];
  }
  return offset;
}

// One thread per out element, summing its reduced elements in a fixed order: for many outputs.
__global__ void sum_to_shape_thread_kernel(const float* x, float* out, Axes kept, Axes reduced, int64_t out_count,
                                           int64_t reduce_count) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t o = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; o < out_count; o += step) {
    const float* base = x + offset_of(o, kept);
    float total = 0.0f;
    for (int64_t r = 0; r < reduce_count; ++r) total += base[offset_of(r, reduced)];
    out[o] = total;
  }
}

// One block per out element: for few outputs that each sum many elements.
__global__ void sum_to_shape_block_kernel(const float* x, float* out, Axes kept, Axes reduced, int64_t out_count,
                                          int64_t reduce_count) {
  __shared__ float partial[32];
  for (int64_t o = blockIdx.x; o < out_count; o += gridDim.x) {
    const float* base = x + offset_of(o, kept);
    float total = 0.0f;
    for (int64_t r = threadIdx.x; r < reduce_count; r += blockDim.x) total += base[offset_of(r, reduced)];
    total = block_sum(total, partial);
    if (threadIdx.x == 0) out[o] = total;
    __syncthreads();
  }
}

}  // namespace

void reduce_forward(ReduceOp op, const float* x, float* out, int32_t* indices, int64_t outer, int64_t dim,
                    int64_t inner) {
  if (outer * inner == 0) return;
  switch (op) {
    case ReduceOp::sum:
      launch_reduce<ReduceOp::sum>(x, out, indices, outer, dim, inner);
      break;
    case ReduceOp::mean:
      launch_reduce<ReduceOp::mean>(x, out, indices, outer, dim, inner);
      break;
    case ReduceOp::max:
      launch_reduce<ReduceOp::max>(x, out, indices, outer, dim, inner);
      break;
    case ReduceOp::min:
      launch_reduce<ReduceOp::min>(x, out, indices, outer, dim, inner);
      break;
    case ReduceOp::argmax:
      launch_reduce<ReduceOp::argmax>(x, nullptr, indices, outer, dim, inner);
      break;
  }
  cuda_check_launch("reduce");
}

void index_backward(const float* dy, const int32_t* indices, float* dx, int64_t outer, int64_t dim, int64_t inner) {
  const int64_t total = outer * dim * inner;
  if (total == 0) return;
  cuda_check(cudaMemsetAsync(dx, 0, total * 4, cuda_stream()), "indexBackward");
  index_scatter_kernel<<<grid_for(outer * inner, 256), 256, 0, cuda_stream()>>>(dy, indices, dx, outer, dim, inner);
  cuda_check_launch("indexBackward");
}

void sum_to_shape(const float* x, const int64_t* x_shape, float* out, const int64_t* out_shape, int ndim) {
  int64_t x_count = 1, out_count = 1;
  for (int d = 0; d < ndim; ++d) {
    x_count *= x_shape[d];
    out_count *= out_shape[d];
  }
  if (out_count == 0) return;
  if (x_count == 0) {  // summing nothing
    cuda_check(cudaMemsetAsync(out, 0, out_count * 4, cuda_stream()), "sumToShape");
    return;
  }
  // x strides of every non-trivial dim, split into kept and summed axes (both in row-major order).
  Axes kept{}, reduced{};
  int64_t stride = 1;
  int64_t strides[kMaxDims];
  for (int d = ndim - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= x_shape[d];
  }
  for (int d = 0; d < ndim; ++d) {
    if (x_shape[d] == 1) continue;
    Axes& axes = out_shape[d] == 1 ? reduced : kept;
    axes.size[axes.count] = x_shape[d];
    axes.stride[axes.count] = strides[d];
    ++axes.count;
  }
  const int64_t reduce_count = x_count / out_count;
  if (out_count >= 4096 || reduce_count < 256) {
    sum_to_shape_thread_kernel<<<grid_for(out_count, 256), 256, 0, cuda_stream()>>>(x, out, kept, reduced, out_count,
                                                                                    reduce_count);
  } else {
    const unsigned blocks = static_cast<unsigned>(out_count < 65535 ? out_count : 65535);
    sum_to_shape_block_kernel<<<blocks, 256, 0, cuda_stream()>>>(x, out, kept, reduced, out_count, reduce_count);
  }
  cuda_check_launch("sumToShape");
}

}  // namespace tn
