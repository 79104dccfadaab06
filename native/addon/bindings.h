// Each kernel family registers its JS functions here; addon.cc calls every Register* once at load.
#pragma once
#include <napi.h>

namespace tn {

void RegisterGemm(Napi::Env env, Napi::Object exports);
void RegisterAttention(Napi::Env env, Napi::Object exports);
void RegisterNorm(Napi::Env env, Napi::Object exports);
void RegisterElementwise(Napi::Env env, Napi::Object exports);
void RegisterBench(Napi::Env env, Napi::Object exports);

}  // namespace tn
