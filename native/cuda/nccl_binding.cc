// The NCCL bindings of the CUDA addon (src/distributed/index.ts is their only caller; src/cuda.ts types them).
#include <napi.h>

#include <string>

#include "../addon/args.h"
#include "../addon/storage.h"
#include "cuda_bindings.h"
#include "nccl.h"

namespace tn {
namespace {

Napi::Value NcclUniqueIdBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kNcclUniqueIdBytes);
}

Napi::Value NcclUniqueId(const Napi::CallbackInfo& info) {
  auto id = Napi::Uint8Array::New(info.Env(), kNcclUniqueIdBytes);
  nccl_unique_id(id.Data());
  return id;
}

// ncclInit(id, worldSize, rank, device)
Napi::Value NcclInit(const Napi::CallbackInfo& info) {
  Args args(info, "ncclInit", 4);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[0].As<Napi::Uint8Array>().ElementLength() != kNcclUniqueIdBytes)
    args.type_error("id must be a Uint8Array of " + std::to_string(kNcclUniqueIdBytes) + " bytes");
  const int64_t world_size = args.integer(1, "worldSize", 1, kMaxInt32);
  const int64_t rank = args.integer(2, "rank", 0, world_size - 1);
  const int64_t device = args.integer(3, "device", 0, 1024);
  nccl_init(info[0].As<Napi::Uint8Array>().Data(), static_cast<int>(world_size), static_cast<int>(rank),
            static_cast<int>(device));
  return info.Env().Undefined();
}

// ncclAllReduce(storage, n, op)
Napi::Value NcclAllReduce(const Napi::CallbackInfo& info) {
  Args args(info, "ncclAllReduce", 3);
  const int64_t n = args.integer(1, "n");
  float* data = args.f32(0, "storage", 0, n);
  const std::string op = args.string(2, "op");
  if (op != "sum" && op != "mean" && op != "max")
    args.range_error("op must be 'sum', 'mean' or 'max', got '" + op + "'");
  nccl_all_reduce(data, n, op == "sum" ? NcclOp::kSum : op == "mean" ? NcclOp::kMean : NcclOp::kMax);
  return info.Env().Undefined();
}

// ncclBroadcast(storage, n, root)
Napi::Value NcclBroadcast(const Napi::CallbackInfo& info) {
  Args args(info, "ncclBroadcast", 3);
  const int64_t n = args.integer(1, "n");
  float* data = args.f32(0, "storage", 0, n);
  nccl_broadcast(data, n, static_cast<int>(args.integer(2, "root", 0, kMaxInt32)));
  return info.Env().Undefined();
}

Napi::Value NcclFinalize(const Napi::CallbackInfo& info) {
  nccl_finalize();
  return info.Env().Undefined();
}

}  // namespace

void RegisterNccl(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclUniqueIdBytes", Napi::Function::New<NcclUniqueIdBytes>(env, "ncclUniqueIdBytes"));
  exports.Set("ncclUniqueId", Napi::Function::New<NcclUniqueId>(env, "ncclUniqueId"));
  exports.Set("ncclInit", Napi::Function::New<NcclInit>(env, "ncclInit"));
  exports.Set("ncclAllReduce", Napi::Function::New<NcclAllReduce>(env, "ncclAllReduce"));
  exports.Set("ncclBroadcast", Napi::Function::New<NcclBroadcast>(env, "ncclBroadcast"));
  exports.Set("ncclFinalize", Napi::Function::New<NcclFinalize>(env, "ncclFinalize"));
}

}  // namespace tn
