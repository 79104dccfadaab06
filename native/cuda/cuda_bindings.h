// JS functions only the CUDA addon has (device queries, the BF16 GEMM and its casts), and the CUDA versions of
// the bindings whose shared code reads index arrays on the host (see cuda_bindings.cc).
#pragma once
#include <napi.h>

namespace tn {

void RegisterCuda(Napi::Env env, Napi::Object exports);
// The NCCL collectives (nccl_binding.cc).
void RegisterNccl(Napi::Env env, Napi::Object exports);

}  // namespace tn
