// Index validation on the device: the first invalid position is found with an atomicMin over the ids, and
// only that one number (or the offending value) travels back to the host.
#include "../cpu/indices.h"
#include "runtime.cuh"

namespace tn {
namespace {

__global__ void find_invalid_kernel(const int32_t* ids, int64_t n, int64_t limit, int64_t allowed,
                                    unsigned long long* first) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t id = ids[i];
    if (id != allowed && (id < 0 || id >= limit)) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

}  // namespace

int64_t find_invalid_index(const int32_t* ids, int64_t n, int64_t limit, int64_t allowed) {
  if (n == 0) return -1;
  auto* first = static_cast<unsigned long long*>(cuda_scratch(sizeof(unsigned long long), 2, "index check"));
  const unsigned long long none = ~0ull;
  cudaStream_t stream = cuda_stream();
  cuda_check(cudaMemcpyAsync(first, &none, sizeof(none), cudaMemcpyHostToDevice, stream), "index check");
  find_invalid_kernel<<<grid_for(n, 256), 256, 0, stream>>>(ids, n, limit, allowed, first);
  cuda_check_launch("index check");
  unsigned long long result = none;
  cuda_check(cudaMemcpyAsync(&result, first, sizeof(result), cudaMemcpyDeviceToHost, stream), "index check");
  cuda_check(cudaStreamSynchronize(stream), "index check");
  return result == none ? -1 : static_cast<int64_t>(result);
}

int32_t read_index(const int32_t* ids, int64_t pos) {
  int32_t value = 0;
  cuda_check(cudaMemcpyAsync(&value, ids + pos, sizeof(value), cudaMemcpyDeviceToHost, cuda_stream()), "index check");
  cuda_check(cudaStreamSynchronize(cuda_stream()), "index check");
  return value;
}

}  // namespace tn
