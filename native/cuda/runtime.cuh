// Shared by the CUDA kernels: the one stream every kernel runs on, launch checks that turn CUDA errors into
// exceptions (the N-API layer rethrows them as JS errors naming the op), scratch memory and small helpers.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace tn {

// Kernels are queued in order on this stream; the host waits only when data comes back.
cudaStream_t cuda_stream();

// Throws std::runtime_error("<op>: <CUDA error>") when a CUDA call or the last launch failed.
void cuda_check(cudaError_t status, const char* op);
// After a kernel launch: throws when the launch failed. With TN_CUDA_SYNC=1 (or CUDA_LAUNCH_BLOCKING=1) in the
// environment it also waits for the stream, so a fault inside the kernel is reported under `op` instead of
// under whichever later call happens to wait.
void cuda_check_launch(const char* op);
// Whether launches are checked synchronously (read from the environment once).
bool cuda_sync_launches();

// Device memory of at least `bytes` for one kernel sequence. Kernels run in stream order, so one buffer per
// slot can be reused by every call; the pointer stays valid until the next cuda_scratch call with that slot.
void* cuda_scratch(size_t bytes, int slot, const char* op);

// Raises the dynamic shared-memory limit of a kernel once (kernels needing more than 48 KiB must opt in).
void cuda_allow_shared_memory(const void* kernel, size_t bytes, const char* op);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A 1-D grid covering n elements with `threads` per block, capped (grid-stride loops cover the rest).
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = ceil_div(n, threads);
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 * 16 ? 65535 * 16 : blocks));
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets the result.
// `shared` holds 32 floats. Two calls in a row need a __syncthreads() between them.
__device__ __forceinline__ float block_sum(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : 0.0f;
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : -INFINITY;
  return warp_max(v);
}

}  // namespace tn
