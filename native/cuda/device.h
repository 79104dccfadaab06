// Host-side view of the CUDA runtime for the N-API layer (storage.cc, addon.cc): plain C++ declarations, so
// the bindings compile without CUDA headers. Every function throws std::runtime_error naming the operation
// when the runtime reports an error; a machine without a driver reports zero devices instead of failing.
#pragma once
#include <cstddef>
#include <string>

namespace tn {

int cuda_device_count();                   // 0 when there is no driver, no device or any runtime error
std::string cuda_device_name(int device);  // "" when unavailable
void cuda_synchronize();                   // waits for every kernel queued on the stream
bool cuda_sync_launches();                 // TN_CUDA_SYNC / CUDA_LAUNCH_BLOCKING: each launch waits for its kernel

void* cuda_alloc(size_t bytes, const char* op);  // device memory; throws "no CUDA device" without one
void cuda_free(void* ptr);
void cuda_zero(void* dst, size_t bytes, const char* op);                             // asynchronous, on the stream
void cuda_copy_to_host(void* dst, const void* src, size_t bytes, const char* op);    // waits for the stream
void cuda_copy_to_device(void* dst, const void* src, size_t bytes, const char* op);  // ordered on the stream
void cuda_copy_on_device(void* dst, const void* src, size_t bytes, const char* op);  // overlap allowed

}  // namespace tn
