// NCCL collectives for data-parallel training on GPUs, for the N-API layer (nccl_binding.cc): plain C++, so the
// bindings compile without CUDA or NCCL headers. libnccl.so.2 is loaded at run time (dlopen), so the addon builds
// and loads without NCCL; TN_NCCL_LIBRARY names another file. Every function throws std::runtime_error naming
// the operation on failure.
#pragma once
#include <cstdint>

namespace tn {

constexpr int kNcclUniqueIdBytes = 128;

enum class NcclOp { kSum, kMean, kMax };

// Writes a new unique id (kNcclUniqueIdBytes): made by rank 0, handed to the other ranks (over MPI).
void nccl_unique_id(uint8_t* out);
// Joins the communicator of `id` as `rank` of `world_size`, on `device` (which becomes the current device).
void nccl_init(const uint8_t* id, int world_size, int rank, int device);
// In place, queued on the stream every kernel runs on: later kernels see the result.
void nccl_all_reduce(float* data, int64_t count, NcclOp op);
void nccl_broadcast(float* data, int64_t count, int root);
// Leaves the communicator (nothing when none was joined).
void nccl_finalize();

}  // namespace tn
