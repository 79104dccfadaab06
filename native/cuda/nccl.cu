#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "nccl.h"
#include "runtime.cuh"

namespace tn {
namespace {

// NCCL's ABI (nccl.h, stable since 2.0), declared here so that no NCCL headers are needed to build.
using ncclComm_t = struct ncclComm*;
struct ncclUniqueId {
  char internal[kNcclUniqueIdBytes];
};
using ncclResult_t = int;
constexpr ncclResult_t ncclSuccess = 0;
constexpr int ncclFloat32 = 7;
constexpr int ncclSum = 0;
constexpr int ncclMax = 2;
constexpr int ncclAvg = 4;               // NCCL 2.10 and later
constexpr int kAvgSinceVersion = 21000;  // ncclGetVersion's 2.10.0

struct Nccl {
  ncclResult_t (*GetVersion)(int*);
  const char* (*GetErrorString)(ncclResult_t);
  ncclResult_t (*GetUniqueId)(ncclUniqueId*);
  ncclResult_t (*CommInitRank)(ncclComm_t*, int, ncclUniqueId, int);
  ncclResult_t (*CommDestroy)(ncclComm_t);
  ncclResult_t (*AllReduce)(const void*, void*, size_t, int, int, ncclComm_t, cudaStream_t);
  ncclResult_t (*Broadcast)(const void*, void*, size_t, int, int, ncclComm_t, cudaStream_t);
  int version = 0;
};

ncclComm_t comm = nullptr;

template <typename F>
void resolve(void* library, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(library, name));
  if (*out == nullptr) throw std::runtime_error(std::string("NCCL: libnccl has no ") + name);
}

// The library, loaded on first use.
const Nccl& nccl() {
  static Nccl api = [] {
    const char* named = std::getenv("TN_NCCL_LIBRARY");
    const char* file = named != nullptr && named[0] != '\0' ? named : "libnccl.so.2";
    void* library = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr)
      throw std::runtime_error(std::string("NCCL: cannot load ") + file + " (" + dlerror() +
                               "); install NCCL (e.g. the libnccl2 package) or name the library in TN_NCCL_LIBRARY");
    Nccl a{};
    resolve(library, "ncclGetVersion", &a.GetVersion);
    resolve(library, "ncclGetErrorString", &a.GetErrorString);
    resolve(library, "ncclGetUniqueId", &a.GetUniqueId);
    resolve(library, "ncclCommInitRank", &a.CommInitRank);
    resolve(library, "ncclCommDestroy", &a.CommDestroy);
    resolve(library, "ncclAllReduce", &a.AllReduce);
    resolve(library, "ncclBroadcast", &a.Broadcast);
    a.GetVersion(&a.version);
    return a;
  }();
  return api;
}

void check(ncclResult_t result, const char* op) {
  if (result != ncclSuccess)
    throw std::runtime_error(std::string(op) + ": NCCL error " + nccl().GetErrorString(result));
}

ncclComm_t joined(const char* op) {
  if (comm == nullptr)
    throw std::runtime_error(std::string(op) + ": no NCCL communicator (dist.init({ backend: 'nccl' }))");
  return comm;
}

}  // namespace

void nccl_unique_id(uint8_t* out) {
  ncclUniqueId id;
  check(nccl().GetUniqueId(&id), "ncclUniqueId");
  std::memcpy(out, id.internal, kNcclUniqueIdBytes);
}

void nccl_init(const uint8_t* id, int world_size, int rank, int device) {
  if (comm != nullptr) throw std::runtime_error("ncclInit: already joined a communicator");
  cuda_check(cudaSetDevice(device), "ncclInit");
  ncclUniqueId unique;
  std::memcpy(unique.internal, id, kNcclUniqueIdBytes);
  check(nccl().CommInitRank(&comm, world_size, unique, rank), "ncclInit");
}

void nccl_all_reduce(float* data, int64_t count, NcclOp op) {
  ncclComm_t c = joined("ncclAllReduce");
  if (op == NcclOp::kMean && nccl().version < kAvgSinceVersion)
    throw std::runtime_error("ncclAllReduce: op 'mean' needs NCCL 2.10 or later, this is " +
                             std::to_string(nccl().version));
  const int reduce = op == NcclOp::kSum ? ncclSum : op == NcclOp::kMax ? ncclMax : ncclAvg;
  check(nccl().AllReduce(data, data, static_cast<size_t>(count), ncclFloat32, reduce, c, cuda_stream()),
        "ncclAllReduce");
}

void nccl_broadcast(float* data, int64_t count, int root) {
  check(nccl().Broadcast(data, data, static_cast<size_t>(count), ncclFloat32, root, joined("ncclBroadcast"),
                         cuda_stream()),
        "ncclBroadcast");
}

void nccl_finalize() {
  if (comm == nullptr) return;
  cuda_check(cudaStreamSynchronize(cuda_stream()), "ncclFinalize");
  check(nccl().CommDestroy(comm), "ncclFinalize");
  comm = nullptr;
}

}  // namespace tn
