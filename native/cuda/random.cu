// Counter-based random fills and dropout on the GPU: element i draws the same Philox words as on the CPU
// (native/cpu/random.cc), so a seed gives the same tensor on both devices.
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
    float v = __fadd_rn(lo, __fmul_rn(width, gpu::philox_uniform(seed, gpu::kStreamFill, static_cast<uint64_t>(i))));
    if (v >= hi && hi > lo) v = nextafterf(hi, lo);
    dst[i] = v;
  }
}

__global__ void normal_kernel(float* dst, int64_t n, uint64_t seed, float mean, float std) {
  const double two_pi = 6.283185307179586;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    // Box-Muller in double as on the CPU: elements 2k and 2k+1 share block k's words 0 and 1.
    const gpu::Philox4 r = gpu::philox4x32(seed, gpu::kStreamFill, static_cast<uint64_t>(i) >> 1);
    const double u1 = 1.0 - static_cast<double>(r.v[0] >> 8) * (1.0 / 16777216.0);
    const double u2 = static_cast<double>(r.v[1] >> 8) * (1.0 / 16777216.0);
    const double radius = sqrt(-2.0 * log(u1));
    const double z = (i & 1) ? radius * sin(two_pi * u2) : radius * cos(two_pi * u2);
    dst[i] = static_cast<float>(__dadd_rn(static_cast<double>(mean), __dmul_rn(static_cast<double>(std), z)));
  }
}

__global__ void dropout_kernel(const float* x, float* out, int64_t n, float p, uint64_t seed) {
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const bool keep = gpu::philox_uniform(seed, gpu::kStreamDropout, static_cast<uint64_t>(i)) >= p;
    out[i] = keep ? __fmul_rn(x[i], scale) : 0.0f;
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
