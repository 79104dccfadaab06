#include "cuda_bindings.h"

#include <string>

#include "../addon/args.h"
#include "../addon/storage.h"
#include "../cpu/embedding.h"
#include "../cpu/indices.h"
#include "../cpu/reduce.h"
#include "device.h"
#include "gemm_bf16.h"

namespace tn {
namespace {

constexpr int64_t kMaxDim = kMaxInt32;
// An `allowed` value for find_invalid_index that no int32 id equals: every id must be in range.
constexpr int64_t kNoExemptId = -(int64_t(1) << 40);

Napi::Value DeviceCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), cuda_device_count()); }

Napi::Value IsAvailable(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), cuda_device_count() > 0);
}

// deviceName(device = 0)
Napi::Value DeviceName(const Napi::CallbackInfo& info) {
  Args args(info, "deviceName", 0);
  const int count = cuda_device_count();
  if (count == 0) throw Napi::Error::New(info.Env(), "deviceName: no CUDA device");
  const int64_t device = info.Length() > 0 && !args.is_null(0) ? args.integer(0, "device", 0, count - 1) : 0;
  return Napi::String::New(info.Env(), cuda_device_name(static_cast<int>(device)));
}

// Whether every launch waits for its kernel (TN_CUDA_SYNC=1 or CUDA_LAUNCH_BLOCKING=1 when the addon first checked).
Napi::Value SyncLaunches(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), cuda_sync_launches());
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  cuda_synchronize();
  return info.Env().Undefined();
}

// ---- bfloat16 -----------------------------------------------------------------------------------------------

// A live storage read as bfloat16 (two per 4-byte element) holding `needed` values from `offset`.
const uint16_t* bf16_operand(const Napi::CallbackInfo& info, const Args& args, size_t i, const char* name,
                             int64_t offset, int64_t needed) {
  args.f32(i, name, 0, 0);  // type and dispose checks
  const int64_t capacity = static_cast<int64_t>(Storage::Unwrap(info[i].As<Napi::Object>())->byte_length() / 2);
  if (offset > capacity || needed > capacity - offset)
    args.range_error(std::string(name) + " holds " + std::to_string(capacity) + " bfloat16 values, needs " +
                     std::to_string(needed) + " from offset " + std::to_string(offset));
  return static_cast<const uint16_t*>(Storage::Unwrap(info[i].As<Napi::Object>())->data()) + offset;
}

// Elements (bfloat16 for A and B, float32 for C) a batched operand spans.
int64_t span(const Args& args, const char* name, int64_t rows, int64_t cols, int64_t batch, int64_t stride) {
  const int64_t per = checked_numel(args, {rows, cols}, name);
  if (per == 0 || batch == 0) return 0;
  const int64_t limit = int64_t(1) << 50;
  if (stride > 0 && batch - 1 > (limit - per) / stride)
    args.range_error(std::string(name) + " spans more than 2^50 elements");
  return (batch - 1) * stride + per;
}

// gemmBf16(a, aOffset, b, bOffset, c, cOffset, bias, biasOffset, transA, transB, M, N, K, batch, strideA,
//          strideB, strideC, alpha, beta): like gemm, with a and b holding bfloat16 (offsets and strides counted
//          in bfloat16 values) and c, bias float32.
Napi::Value GemmBf16(const Napi::CallbackInfo& info) {
  Args args(info, "gemmBf16", 19);
  const int64_t a_offset = args.integer(1, "aOffset"), b_offset = args.integer(3, "bOffset");
  const int64_t c_offset = args.integer(5, "cOffset"), bias_offset = args.integer(7, "biasOffset");
  const bool trans_a = args.flag(8, "transA"), trans_b = args.flag(9, "transB");
  const int64_t M = args.integer(10, "M", 0, kMaxDim), N = args.integer(11, "N", 0, kMaxDim);
  const int64_t K = args.integer(12, "K", 0, kMaxDim), batch = args.integer(13, "batch", 0, kMaxDim);
  const int64_t stride_a = args.integer(14, "strideA"), stride_b = args.integer(15, "strideB");
  const int64_t stride_c = args.integer(16, "strideC");
  const float alpha = static_cast<float>(args.number(17, "alpha")), beta = static_cast<float>(args.number(18, "beta"));
  const bool product = M > 0 && N > 0;
  const uint16_t* a = bf16_operand(info, args, 0, "A", a_offset, product ? span(args, "A", M, K, batch, stride_a) : 0);
  const uint16_t* b = bf16_operand(info, args, 2, "B", b_offset, product ? span(args, "B", K, N, batch, stride_b) : 0);
  float* c = args.f32(4, "C", c_offset, span(args, "C", M, N, batch, stride_c));
  const float* bias = args.f32_or_null(6, "bias", bias_offset, N);
  gemm_bf16(a, b, c, bias, trans_a, trans_b, M, N, K, batch, stride_a, stride_b, stride_c, alpha, beta);
  return info.Env().Undefined();
}

// castToBf16(src, dst, n): n float32 values of src rounded into bfloat16 in dst (ceil(n / 2) elements).
Napi::Value CastToBf16(const Napi::CallbackInfo& info) {
  Args args(info, "castToBf16", 3);
  const int64_t n = args.integer(2, "n");
  const float* src = args.f32(0, "src", 0, n);
  auto* dst = reinterpret_cast<uint16_t*>(args.f32(1, "dst", 0, (n + 1) / 2));
  cast_float_to_bf16(src, dst, n);
  return info.Env().Undefined();
}

// castFromBf16(src, dst, n): n bfloat16 values of src widened into float32 in dst.
Napi::Value CastFromBf16(const Napi::CallbackInfo& info) {
  Args args(info, "castFromBf16", 3);
  const int64_t n = args.integer(2, "n");
  const auto* src = reinterpret_cast<const uint16_t*>(args.f32(0, "src", 0, (n + 1) / 2));
  float* dst = args.f32(1, "dst", 0, n);
  cast_bf16_to_float(src, dst, n);
  return info.Env().Undefined();
}

}  // namespace

void RegisterCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceCount", Napi::Function::New<DeviceCount>(env, "deviceCount"));
  exports.Set("deviceName", Napi::Function::New<DeviceName>(env, "deviceName"));
  exports.Set("synchronize", Napi::Function::New<Synchronize>(env, "synchronize"));
  exports.Set("syncLaunches", Napi::Function::New<SyncLaunches>(env, "syncLaunches"));
  exports.Set("isAvailable", Napi::Function::New<IsAvailable>(env, "isAvailable"));
  exports.Set("gemmBf16", Napi::Function::New<GemmBf16>(env, "gemmBf16"));
  exports.Set("castToBf16", Napi::Function::New<CastToBf16>(env, "castToBf16"));
  exports.Set("castFromBf16", Napi::Function::New<CastFromBf16>(env, "castFromBf16"));
  RegisterNccl(env, exports);
}

}  // namespace tn
