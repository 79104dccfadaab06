#include "storage.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "args.h"
#ifdef TN_CUDA
#include "../cuda/device.h"
#endif

namespace tn {
namespace {

constexpr size_t kAlignment = 64;  // a cache line: lets SIMD kernels use aligned panels
constexpr double kMaxBytes = double(int64_t(1) << 42);

std::atomic<int64_t> live_storages{0};
std::atomic<int64_t> live_storage_bytes{0};

// Marks the objects the Storage constructor made: every storage argument of every kernel call is checked, and a
// type tag check skips the property lookups and the TryCatch that instanceof costs through N-API. The CUDA addon has a
// tag of its own, so neither addon takes the other's storages.
#ifdef TN_CUDA
constexpr napi_type_tag kStorageTag = {0x2b49604ca07d4cc6ULL, 0x824674cdc272d267ULL};
#else
constexpr napi_type_tag kStorageTag = {0x2c30636a96a140b9ULL, 0x8adf819d080681afULL};
#endif

// Host bytes are reported to V8, whose GC then knows what a wrapper object really holds. Device bytes are not:
// they do not press on host memory, and counting them would trigger collections that free no host memory.
void report_external_memory(Napi::Env env, int64_t delta) {
#ifdef TN_CUDA
  (void)env;
  (void)delta;
#else
  Napi::MemoryManagement::AdjustExternalMemory(env, delta);
#endif
}

}  // namespace

Napi::Function Storage::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "Storage",
                                    {
                                        InstanceMethod<&Storage::Dispose>("dispose"),
                                        InstanceAccessor<&Storage::GetDisposed>("disposed"),
                                        InstanceAccessor<&Storage::GetByteLength>("byteLength"),
                                        InstanceAccessor<&Storage::GetAddress>("address"),
                                        InstanceMethod<&Storage::ReadFloat32>("readFloat32"),
                                        InstanceMethod<&Storage::ReadInt32>("readInt32"),
                                        InstanceMethod<&Storage::Write>("write"),
                                        InstanceMethod<&Storage::CopyFrom>("copyFrom"),
                                    });
  return ctor;
}

bool Storage::IsStorage(Napi::Value value) {
  return value.IsObject() && value.As<Napi::Object>().CheckTypeTag(&kStorageTag);
}

// new Storage(byteLength, zeroFill = true)
Storage::Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) {
  Args args(info, "Storage", 1);
  info.This().As<Napi::Object>().TypeTag(&kStorageTag);
  const int64_t bytes = args.integer(0, "byteLength", 0, static_cast<int64_t>(kMaxBytes));
  const bool zero = info.Length() < 2 || info[1].IsUndefined() || args.flag(1, "zeroFill");
  bytes_ = static_cast<size_t>(bytes);
  const size_t rounded = ((bytes_ + kAlignment - 1) / kAlignment) * kAlignment;
  if (rounded > 0) {
#ifdef TN_CUDA
    data_ = cuda_alloc(rounded, "Storage");
    if (zero) cuda_zero(data_, rounded, "Storage");
#else
    data_ = std::aligned_alloc(kAlignment, rounded);
    if (!data_) args.range_error("cannot allocate " + std::to_string(bytes) + " bytes");
    if (zero) std::memset(data_, 0, rounded);
#endif
  }
  report_external_memory(info.Env(), static_cast<int64_t>(bytes_));
  live_storages++;
  live_storage_bytes += static_cast<int64_t>(bytes_);
}

int64_t Storage::live_count() { return live_storages.load(); }
int64_t Storage::live_bytes() { return live_storage_bytes.load(); }

// The GC fallback for storages the user never disposed.
void Storage::Finalize(Napi::Env env) { Release(env); }

#ifdef TN_CUDA
Storage::~Storage() { cuda_free(data_); }
#else
Storage::~Storage() { std::free(data_); }
#endif

void Storage::Release(Napi::Env env) {
  if (disposed_) return;
#ifdef TN_CUDA
  cuda_free(data_);
#else
  std::free(data_);
#endif
  data_ = nullptr;
  disposed_ = true;
  live_storages--;
  live_storage_bytes -= static_cast<int64_t>(bytes_);
  report_external_memory(env, -static_cast<int64_t>(bytes_));
}

Napi::Value Storage::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

Napi::Value Storage::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

Napi::Value Storage::GetByteLength(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(bytes_));
}

// The memory's address as a BigInt (0n once disposed), for a collective of the MPI addon that reads and writes the
// storage in place on its communication thread; the caller keeps the storage alive until the collective is done.
Napi::Value Storage::GetAddress(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data_)));
}

namespace {

// readFloat32(offset, count) / readInt32(offset, count): a copy of count elements starting at element offset.
template <typename TypedArray, typename T>
Napi::Value read_elements(const Napi::CallbackInfo& info, Storage* self, const char* op) {
  Args args(info, op, 2);
  if (self->disposed()) args.type_error("storage was disposed");
  const int64_t capacity = static_cast<int64_t>(self->byte_length() / 4);
  const int64_t offset = args.integer(0, "offset", 0, capacity);
  const int64_t count = args.integer(1, "count", 0, capacity - offset);
  auto out = TypedArray::New(info.Env(), static_cast<size_t>(count));
#ifdef TN_CUDA
  // Waits for the kernels queued on the stream, which may still be writing this storage.
  if (count > 0)
    cuda_copy_to_host(out.Data(), static_cast<T*>(self->data()) + offset, static_cast<size_t>(count) * 4, op);
#else
  if (count > 0) std::memcpy(out.Data(), static_cast<T*>(self->data()) + offset, static_cast<size_t>(count) * 4);
#endif
  return out;
}

}  // namespace

Napi::Value Storage::ReadFloat32(const Napi::CallbackInfo& info) {
  return read_elements<Napi::Float32Array, float>(info, this, "Storage.readFloat32");
}

Napi::Value Storage::ReadInt32(const Napi::CallbackInfo& info) {
  return read_elements<Napi::Int32Array, int32_t>(info, this, "Storage.readInt32");
}

// write(typedArray, elementOffset): copies a Float32Array or Int32Array into the storage.
Napi::Value Storage::Write(const Napi::CallbackInfo& info) {
  Args args(info, "Storage.write", 2);
  if (disposed_) args.type_error("storage was disposed");
  if (!info[0].IsTypedArray()) args.type_error("source must be a Float32Array or Int32Array");
  auto src = info[0].As<Napi::TypedArray>();
  if (src.TypedArrayType() != napi_float32_array && src.TypedArrayType() != napi_int32_array)
    args.type_error("source must be a Float32Array or Int32Array");
  const int64_t capacity = static_cast<int64_t>(bytes_ / 4);
  const int64_t offset = args.integer(1, "offset", 0, capacity);
  const int64_t count = static_cast<int64_t>(src.ElementLength());
  if (count > capacity - offset)
    args.range_error("source has " + std::to_string(count) + " elements but only " + std::to_string(capacity - offset) +
                     " fit after offset " + std::to_string(offset));
  const auto* bytes = static_cast<const uint8_t*>(src.ArrayBuffer().Data()) + src.ByteOffset();
#ifdef TN_CUDA
  if (count > 0)
    cuda_copy_to_device(static_cast<uint8_t*>(data_) + offset * 4, bytes, static_cast<size_t>(count) * 4,
                        "Storage.write");
#else
  if (count > 0) std::memcpy(static_cast<uint8_t*>(data_) + offset * 4, bytes, static_cast<size_t>(count) * 4);
#endif
  return info.Env().Undefined();
}

// copyFrom(source, sourceOffset, offset, count): element-wise copy between storages (may be the same one).
Napi::Value Storage::CopyFrom(const Napi::CallbackInfo& info) {
  Args args(info, "Storage.copyFrom", 4);
  if (disposed_) args.type_error("storage was disposed");
  const int64_t count = args.integer(3, "count");
  const int64_t src_offset = args.integer(1, "sourceOffset");
  const int64_t dst_offset = args.integer(2, "offset");
  const float* src = args.f32(0, "source", src_offset, count);
  if (dst_offset + count > static_cast<int64_t>(bytes_ / 4))
    args.range_error("copy of " + std::to_string(count) + " elements at offset " + std::to_string(dst_offset) +
                     " overruns a storage of " + std::to_string(bytes_ / 4) + " elements");
#ifdef TN_CUDA
  if (count > 0)
    cuda_copy_on_device(static_cast<float*>(data_) + dst_offset, src, static_cast<size_t>(count) * 4,
                        "Storage.copyFrom");
#else
  if (count > 0) std::memmove(static_cast<float*>(data_) + dst_offset, src, static_cast<size_t>(count) * 4);
#endif
  return info.Env().Undefined();
}

}  // namespace tn
