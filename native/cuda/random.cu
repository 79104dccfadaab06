// Counter-based random fills and dropout on the GPU: element i draws the same Philox words as on the CPU
// (native/cpu/random.cc) and maps them the same way, so a seed gives the same tensor on both devices
// (uniform and dropout bit for bit; normal up to the last-ulp differences of logf/sinf/cosf).
#include "../cpu/random.h"
#include "philox.cuh"
#include "runtime.cuh"

namespace tn {
namespace {

constexpr int kThreads = 256;

__global__ void uniform_kernel(float* dst, int64_t n, uint64_t seed, float lo, float hi) {
  const float width = hi - lo;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    // fmaf would round once where the CPU rounds twice: keep the two roundings.
    const float u = gpu::philox_uniform(seed, gpu::kStreamFill, static_cast<uint64_t>(i));
    float v = __fadd_rn(lo, __fmul_rn(width, u));
    if (v >= hi && hi > lo) v = nextafterf(hi, lo);
    dst[i] = v;
  }
}

__global__ void normal_kernel(float* dst, int64_t n, uint64_t seed, float mean, float std) {
  constexpr float kTwoPi = 6.28318530717958648f;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    // Box-Muller on draws 2k and 2k+1: element 2k takes the cosine, 2k+1 the sine; 1 - u keeps log's argument
    // in (0, 1].
    const uint64_t pair = static_cast<uint64_t>(i) & ~uint64_t(1);
    const float u1 = gpu::philox_uniform(seed, gpu::kStreamFill, pair);
    const float u2 = gpu::philox_uniform(seed, gpu::kStreamFill, pair + 1);
    const float radius = sqrtf(-2.0f * logf(1.0f - u1));
    const float angle = kTwoPi * u2;
    dst[i] = mean + std * radius * ((i & 1) ? sinf(angle) : cosf(angle));
  }
}

__global__ void dropout_kernel(const float* x, float* out, int64_t n, float p, uint64_t seed) {
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const bool keep = gpu::philox_uniform(seed, gpu::kStreamDropout, static_cast<uint64_t>(i)) >= p;
    // Multiplying by 0 (not writing 0) turns NaN and infinity into NaN, as PyTorch's x * mask * scale does.
    out[i] = __fmul_rn(x[i], keep ? scale : 0.0f);
  }
}

}  // namespace

void random_uniform(float* dst, int64_t n, uint64_t seed, float lo, float hi) {
  if (n == 0) return;
  uniform_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(dst, n, seed, lo, hi);
  cuda_check_launch("randomFill");
}

void random_normal(float* dst, int64_t n, uint64_t seed, float mean, float std) {
  if (n == 0) return;
  normal_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(dst, n, seed, mean, std);
  cuda_check_launch("randomFill");
}

void dropout_forward(const float* x, float* out, int64_t n, float p, uint64_t seed) {
  if (n == 0) return;
  if (p == 0.0f) {
    if (out != x) cuda_check(cudaMemcpyAsync(out, x, n * 4, cudaMemcpyDeviceToDevice, cuda_stream()), "dropout");
  } else if (p >= 1.0f) {
    cuda_check(cudaMemsetAsync(out, 0, n * 4, cuda_stream()), "dropout");
  } else {
    dropout_kernel<<<grid_for(n, kThreads), kThreads, 0, cuda_stream()>>>(x, out, n, p, seed);
  }
  cuda_check_launch("dropout");
}

}  // namespace tn
