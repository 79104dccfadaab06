// Module entry: the Storage class, thread and ISA controls, and every kernel family's bindings.
#include <napi.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifdef TN_CUDA
#include "../cuda/cuda_bindings.h"
#else
#include "../cpu/isa.h"
#include "../cpu/threadpool.h"
#endif
#include "args.h"
#include "bindings.h"
#include "storage.h"

namespace tn {
namespace {

#ifndef TN_CUDA
Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Args args(info, "setNumThreads", 1);
  set_num_threads(static_cast<int>(args.integer(0, "n", 1, 1024)));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Args args(info, "setIsa", 1);
  std::string name = args.string(0, "isa");
  Isa isa;
  if (name == "generic")
    isa = Isa::generic;
  else if (name == "avx2")
    isa = Isa::avx2;
  else if (name == "avx512")
    isa = Isa::avx512;
  else
    args.range_error("isa must be 'generic', 'avx2' or 'avx512', got '" + name + "'");
  if (!set_isa(isa)) args.range_error("this CPU cannot run the '" + name + "' path");
  return info.Env().Undefined();
}

Napi::Value GetIsa(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), isa_name(active_isa())); }

Napi::Value SupportedIsas(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env());
  out.Set(0u, Napi::String::New(info.Env(), "generic"));
  if (cpu_supports_avx2_fma()) out.Set(1u, Napi::String::New(info.Env(), "avx2"));
  if (cpu_supports_avx512()) out.Set(2u, Napi::String::New(info.Env(), "avx512"));
  return out;
}
#endif

// { storages, bytes }: native tensor memory alive now, for leak checks and `memory()`.
Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("storages", Napi::Number::New(info.Env(), static_cast<double>(Storage::live_count())));
  out.Set("bytes", Napi::Number::New(info.Env(), static_cast<double>(Storage::live_bytes())));
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#if defined(__GLIBC__)
  // glibc raises its mmap threshold after each large free, after which big tensors come from the heap and
  // freeing/reallocating them every step grows RSS without bound; a fixed threshold keeps them in mmap.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  exports.Set("Storage", Storage::Define(env));
#ifndef TN_CUDA
  exports.Set("setNumThreads", Napi::Function::New<SetNumThreads>(env, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New<GetNumThreads>(env, "getNumThreads"));
  exports.Set("setIsa", Napi::Function::New<SetIsa>(env, "setIsa"));
  exports.Set("getIsa", Napi::Function::New<GetIsa>(env, "getIsa"));
#endif
  exports.Set("memoryStats", Napi::Function::New<MemoryStats>(env, "memoryStats"));
#ifndef TN_CUDA
  exports.Set("supportedIsas", Napi::Function::New<SupportedIsas>(env, "supportedIsas"));
#endif
  RegisterAdamw(env, exports);
  RegisterAttention(env, exports);
  RegisterCopy(env, exports);
  RegisterCrossentropy(env, exports);
  RegisterElementwise(env, exports);
  RegisterEmbedding(env, exports);
  RegisterGemm(env, exports);
  RegisterLayernorm(env, exports);
  RegisterRandom(env, exports);
  RegisterReduce(env, exports);
  RegisterSoftmax(env, exports);
#ifdef TN_CUDA
  // Last: replaces the index-checking bindings registered above with ones that check on the device.
  RegisterCuda(env, exports);
#else
  RegisterPeak(env, exports);
#endif
  return exports;
}

}  // namespace
}  // namespace tn

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return tn::Init(env, exports); }

#ifdef TN_CUDA
NODE_API_MODULE(transformer_native_cuda, InitModule)
#else
NODE_API_MODULE(transformer_native, InitModule)
#endif
