#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "device.h"
#include "runtime.cuh"

namespace tn {
namespace {

// Created on first use; the runtime is initialised lazily so loading the addon never touches the driver.
cudaStream_t create_stream() {
  cudaStream_t stream = nullptr;
  cuda_check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "CUDA stream");
  return stream;
}

// Set and not "0".
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

void require_device(const char* op) {
  if (cuda_device_count() == 0) throw std::runtime_error(std::string(op) + ": no CUDA device");
}

}  // namespace

void cuda_check(cudaError_t status, const char* op) {
  if (status == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  throw std::runtime_error(std::string(op) + ": CUDA error " + cudaGetErrorName(status) + " (" +
                           cudaGetErrorString(status) + ")");
}

bool cuda_sync_launches() {
  static const bool sync = env_flag("TN_CUDA_SYNC") || env_flag("CUDA_LAUNCH_BLOCKING");
  return sync;
}

void cuda_check_launch(const char* op) {
  cuda_check(cudaGetLastError(), op);
  if (!cuda_sync_launches()) return;
  const cudaError_t status = cudaStreamSynchronize(cuda_stream());
  if (status == cudaSuccess) return;
  cudaGetLastError();
  throw std::runtime_error(std::string(op) + ": CUDA error " + cudaGetErrorName(status) + " (" +
                           cudaGetErrorString(status) + ") in the kernel it launched (TN_CUDA_SYNC)");
}

cudaStream_t cuda_stream() {
  static cudaStream_t stream = create_stream();
  return stream;
}

void* cuda_scratch(size_t bytes, int slot, const char* op) {
  static std::vector<std::pair<void*, size_t>> buffers;
  if (slot >= static_cast<int>(buffers.size())) buffers.resize(slot + 1, {nullptr, 0});
  auto& [ptr, size] = buffers[slot];
  if (size < bytes) {
    // The old buffer may still be read by queued kernels: free it only once they are done.
    if (ptr) {
      cuda_check(cudaStreamSynchronize(cuda_stream()), op);
      cudaFree(ptr);
      ptr = nullptr;
      size = 0;
    }
    cuda_check(cudaMalloc(&ptr, bytes), op);
    size = bytes;
  }
  return ptr;
}

void cuda_allow_shared_memory(const void* kernel, size_t bytes, const char* op) {
  cuda_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)), op);
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string cuda_device_name(int device) {
  if (device < 0 || device >= cuda_device_count()) return "";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return "";
  return prop.name;
}

void cuda_synchronize() {
  require_device("synchronize");
  cuda_check(cudaStreamSynchronize(cuda_stream()), "synchronize");
}

void* cuda_alloc(size_t bytes, const char* op) {
  require_device(op);
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, bytes);
  if (status == cudaErrorMemoryAllocation) {
    // Memory freed by cudaFree is returned at once, but queued kernels may still hold scratch: wait and retry.
    cudaGetLastError();
    cuda_check(cudaStreamSynchronize(cuda_stream()), op);
    status = cudaMalloc(&ptr, bytes);
  }
  if (status != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string(op) + ": cannot allocate " + std::to_string(bytes) +
                             " bytes of CUDA memory (" + cudaGetErrorString(status) + ")");
  }
  return ptr;
}

void cuda_free(void* ptr) {
  // cudaFree waits for work on the device that might use ptr; errors here cannot be reported to anyone.
  if (ptr) cudaFree(ptr);
}

void cuda_zero(void* dst, size_t bytes, const char* op) {
  if (bytes) cuda_check(cudaMemsetAsync(dst, 0, bytes, cuda_stream()), op);
}

void cuda_copy_to_host(void* dst, const void* src, size_t bytes, const char* op) {
  if (!bytes) return;
  cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream()), op);
  cuda_check(cudaStreamSynchronize(cuda_stream()), op);
}

void cuda_copy_to_device(void* dst, const void* src, size_t bytes, const char* op) {
  if (!bytes) return;
  // From pageable memory the call returns once src has been staged, so the caller may reuse it at once.
  cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_stream()), op);
}

void cuda_copy_on_device(void* dst, const void* src, size_t bytes, const char* op) {
  if (!bytes || dst == src) return;
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  const bool overlap = d < s + bytes && s < d + bytes;
  if (!overlap) {
    cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream()), op);
    return;
  }
  // memmove semantics through a scratch copy (device-to-device memcpy of overlapping ranges is undefined).
  void* tmp = cuda_scratch(bytes, 0, op);
  cuda_check(cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream()), op);
  cuda_check(cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, cuda_stream()), op);
}

}  // namespace tn
