// A block of native memory that backs one or more tensors. Freed by dispose() or, as a fallback, by the GC;
// the size of host memory is reported to V8 so the GC knows what it really holds (device memory is not).
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace tn {

class Storage : public Napi::ObjectWrap<Storage> {
 public:
  static Napi::Function Define(Napi::Env env);
  static bool IsStorage(Napi::Value value);

  explicit Storage(const Napi::CallbackInfo& info);
  ~Storage() override;
  void Finalize(Napi::Env env) override;

  // Storages alive now (not yet disposed or collected) and their bytes: what `memory()` reports.
  static int64_t live_count();
  static int64_t live_bytes();

  void* data() const { return data_; }
  size_t byte_length() const { return bytes_; }
  bool disposed() const { return disposed_; }

 private:
  void Release(Napi::Env env);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetByteLength(const Napi::CallbackInfo& info);
  Napi::Value GetAddress(const Napi::CallbackInfo& info);
  Napi::Value ReadFloat32(const Napi::CallbackInfo& info);
  Napi::Value ReadInt32(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value CopyFrom(const Napi::CallbackInfo& info);

  void* data_ = nullptr;
  size_t bytes_ = 0;
  bool disposed_ = false;
};

}  // namespace tn
