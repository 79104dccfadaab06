// Embedding lookup and its backward on the GPU. The backward scatters with atomicAdd: the order of the
// additions into one row varies between runs (last-bit differences when a token repeats).
#include "../cpu/embedding.h"
#include "runtime.cuh"

namespace tn {
namespace {

__global__ void embedding_forward_kernel(const float* weight, const int32_t* ids, float* out, int64_t N, int64_t C) {
  const int64_t total = N * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / C, c = i - n * C;
    out[i] = weight[static_cast<int64_t>(ids[n]) * C + c];
  }
}

__global__ void embedding_backward_kernel(const float* dout, const int32_t* ids, float* dweight, int64_t N, int64_t C,
                                          int64_t padding_idx) {
  const int64_t total = N * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / C, c = i - n * C;
    const int64_t id = ids[n];
    if (id != padding_idx) atomicAdd(dweight + id * C + c, dout[i]);
  }
}

}  // namespace

void embedding_forward(const float* weight, const int32_t* ids, float* out, int64_t N, int64_t C) {
  if (N * C == 0) return;
  embedding_forward_kernel<<<grid_for(N * C, 256), 256, 0, cuda_stream()>>>(weight, ids, out, N, C);
  cuda_check_launch("embeddingForward");
}

void embedding_backward(const float* dout, const int32_t* ids, float* dweight, int64_t N, int64_t C,
                        int64_t padding_idx) {
  if (N * C == 0) return;
  embedding_backward_kernel<<<grid_for(N * C, 256), 256, 0, cuda_stream()>>>(dout, ids, dweight, N, C, padding_idx);
  cuda_check_launch("embeddingBackward");
}

}  // namespace tn
